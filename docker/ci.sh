#!/usr/bin/env bash
# CI for the container images: build both and run them for real, on any Debian-like machine.
#   1. A container engine: Docker if its daemon answers, else Podman if it works; with neither
#      (and as root with apt-get), rootful Podman from the distribution's packages, configured
#      for machines like the CI's (see podman_config).
#   2. Base images: the real ones (the Dockerfiles' BASE_IMAGE defaults) when the engine can pull
#      them; without registry access, a local Debian base made with mmdebstrap from Debian's
#      packages and imported into the engine. It is only a build argument: nothing in the
#      Dockerfiles depends on it. Its python3 is Debian's (3.13 on trixie), not the 3.12 of the
#      shipped images.
#   3. docker/smoke.sh: builds both images (and the CPU test target) and runs the smoke checks.
# Every step runs under a timeout; any failure exits non-zero.
#
#   bash docker/ci.sh
#
# Environment (all optional):
#   GPUBP_CI_CONTAINERS=0   skip everything (says so); for a machine that cannot run containers
#   GPUBP_CI_BASE           auto (default): the real bases if the CPU one can be pulled, else local;
#                           local: always the local Debian base; registry: always the real bases
#   GPUBP_CI_SUITE          the local base's Debian suite (default trixie: python 3.13)
#   GPUBP_CI_MIRROR         the Debian mirror for it (default http://deb.debian.org/debian)
#   GPUBP_CI_REBASE=1       make the local base again even if the engine has it
#   GPUBP_CI_CA_BUNDLE      the CA bundle given to the builds (default: PIP_CERT, SSL_CERT_FILE or
#                           /etc/ssl/certs/ca-certificates.crt, the first that is a file)
#   BASE_IMAGE, CPU_BASE_IMAGE, PIP_INDEX_URL, PIP_TRUSTED_HOST, SMOKE_*: see docker/smoke.sh;
#                           BASE_IMAGE and CPU_BASE_IMAGE both set skip step 2.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ${GPUBP_CI_CONTAINERS:-1} == 0 ]]; then
    echo "== containers: skipped (GPUBP_CI_CONTAINERS=0)"
    exit 0
fi

t_start=$SECONDS
conf=/etc/containers/containers.conf.d/50-gpubp-ci.conf
suite=${GPUBP_CI_SUITE:-trixie}
mirror=${GPUBP_CI_MIRROR:-http://deb.debian.org/debian}
local_base="localhost/gpubp-ci-base:$suite"
scratch=
trap '[[ -z $scratch ]] || rm -rf "$scratch"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# step [-q] DESCRIPTION SECONDS COMMAND...: run COMMAND under a timeout; on failure say so and
# exit 1. With -q its output is shown only on failure (the last 40 lines).
step() {
    local quiet=0
    if [[ $1 == -q ]]; then
        quiet=1
        shift
    fi
    local what=$1 limit=$2 t0=$SECONDS rc=0 log
    shift 2
    echo "-- $what"
    if ((quiet)); then
        log=$(timeout --kill-after=30 "$limit" "$@" 2>&1) || rc=$?
        ((rc == 0)) || printf '%s\n' "$log" | tail -n 40 | sed 's/^/    /'
    else
        timeout --kill-after=30 "$limit" "$@" 2>&1 | sed 's/^/    /' || rc=${PIPESTATUS[0]}
    fi
    if ((rc == 124 || rc == 137)); then
        echo "FAIL: $what: timed out after $limit s"
        exit 1
    elif ((rc != 0)); then
        echo "FAIL: $what: exit code $rc"
        exit 1
    fi
    echo "ok: $what ($((SECONDS - t0)) s)"
}

works() { timeout 60 "$1" info >/dev/null 2>&1; }

can_install() { [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; }

apt_install() { # apt_install PACKAGE...
    local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=300)
    step -q "apt-get update" 300 "${apt[@]}" update
    step -q "apt-get install $*" 900 "${apt[@]}" install --no-install-recommends "$@"
}

# The Podman configuration for machines like the CI's, rewritten on every run (delete the file
# to make this script leave a working Podman alone).
podman_config() {
    local nofile nproc pid_max
    nofile=$(ulimit -H -n)
    nproc=$(ulimit -H -u)
    pid_max=$(cat /proc/sys/kernel/pid_max)
    # Podman lowers its own nproc limit to kernel.pid_max, and a container cannot get more.
    if [[ $nproc == unlimited ]] || ((nproc > pid_max)); then nproc=$pid_max; fi
    mkdir -p "${conf%/*}"
    cat >"$conf" <<EOF
# Written by gpubp's docker/ci.sh, which rewrites it on every run. Delete it (and this script
# will leave Podman's configuration alone).
[containers]
# Podman's default ulimits (nofile and nproc 1048576) exceed this machine's hard limits, and
# root may lack CAP_SYS_RESOURCE to raise them ("setrlimit 'RLIMIT_NOFILE': Operation not
# permitted"): ask for the current hard limits instead.
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
# crun 1.8 (Debian 12) refuses this kind of VM's cgroups ("cgroups in hybrid mode not supported").
runtime = "runc"
EOF
    echo "-- $conf:"
    grep -v '^#' "$conf" | sed '/^$/d; s/^/    /'
}

# docker.io names for the Dockerfiles' short BASE_IMAGE defaults (Podman may resolve no short names).
qualify() {
    local name=$1 first=${1%%/*}
    if [[ $name != */* ]]; then
        echo "docker.io/library/$name"
    elif [[ $first == *.* || $first == *:* || $first == localhost ]]; then
        echo "$name"
    else
        echo "docker.io/$name"
    fi
}

default_base() { sed -n 's/^ARG BASE_IMAGE=//p' "$1"; }

echo "== containers: engine"
engine=${SMOKE_ENGINE:-}
if [[ -n $engine ]]; then
    echo "SMOKE_ENGINE=$engine"
elif command -v docker >/dev/null 2>&1 && works docker; then
    engine=docker
elif command -v podman >/dev/null 2>&1 && [[ ! -e $conf ]] && works podman; then
    engine=podman
    echo "using this machine's Podman as it is configured (if containers fail to start: docker/README.md, Podman)"
else
    if ! can_install; then
        echo "FAIL: no working container engine, and installing Podman needs root and apt-get."
        echo "      Install Docker or Podman, or set GPUBP_CI_CONTAINERS=0 to skip the container checks."
        exit 1
    fi
    if ! command -v podman >/dev/null 2>&1 || ! command -v runc >/dev/null 2>&1; then
        apt_install podman runc
    fi
    podman_config
    engine=podman
fi
step "$engine works" 120 "$engine" version

echo "== containers: base images"
mode=${GPUBP_CI_BASE:-auto}
if [[ -n ${BASE_IMAGE:-} && -n ${CPU_BASE_IMAGE:-} ]]; then
    mode=given
    echo "given: BASE_IMAGE=$BASE_IMAGE CPU_BASE_IMAGE=$CPU_BASE_IMAGE"
elif [[ $mode == auto ]]; then
    probe=$(qualify "$(default_base docker/Dockerfile.cpu)")
    echo "-- can $engine pull $probe?"
    if timeout 600 "$engine" pull "$probe" >/dev/null 2>&1; then
        mode=registry
        echo "yes: building on the real base images"
    else
        mode=local
        echo "no: building on a local Debian base"
    fi
fi
case $mode in
given) ;;
registry)
    BASE_IMAGE=${BASE_IMAGE:-$(qualify "$(default_base docker/Dockerfile)")}
    CPU_BASE_IMAGE=${CPU_BASE_IMAGE:-$(qualify "$(default_base docker/Dockerfile.cpu)")}
    ;;
local)
    if [[ ${GPUBP_CI_REBASE:-0} != 1 ]] && timeout 60 "$engine" image inspect "$local_base" >/dev/null 2>&1; then
        echo "$local_base: made $(timeout 60 "$engine" image inspect --format '{{.Created}}' "$local_base")" \
            "(GPUBP_CI_REBASE=1 makes it again)"
    else
        if ! command -v mmdebstrap >/dev/null 2>&1; then
            can_install || {
                echo "FAIL: the local base needs mmdebstrap (apt-get install mmdebstrap)"
                exit 1
            }
            apt_install mmdebstrap
        fi
        scratch=$(mktemp -d "${TMPDIR:-/tmp}/gpubp-ci-base.XXXXXX")
        step -q "mmdebstrap: Debian $suite, minbase + python3-venv" 900 \
            mmdebstrap --variant=minbase --include=python3-venv "$suite" "$scratch/base.tar" "$mirror"
        step -q "$engine import as $local_base ($(du -m "$scratch/base.tar" | cut -f1) MB)" 300 \
            "$engine" import "$scratch/base.tar" "$local_base"
        rm -rf "$scratch"
    fi
    step "the local base's python" 120 "$engine" run --rm --network none "$local_base" python3 --version
    BASE_IMAGE=${BASE_IMAGE:-$local_base}
    CPU_BASE_IMAGE=${CPU_BASE_IMAGE:-$local_base}
    ;;
*)
    echo "GPUBP_CI_BASE: unknown '$mode' (auto, local, registry)"
    exit 2
    ;;
esac

ca_bundle=${GPUBP_CI_CA_BUNDLE:-}
if [[ -z $ca_bundle ]]; then
    for candidate in "${PIP_CERT:-}" "${SSL_CERT_FILE:-}" /etc/ssl/certs/ca-certificates.crt; do
        if [[ -n $candidate && -f $candidate ]]; then
            ca_bundle=$candidate
            break
        fi
    done
fi

echo "== containers: build and check both images (docker/smoke.sh${ca_bundle:+, CA bundle $ca_bundle})"
t_smoke=$SECONDS
rc=0
SMOKE_ENGINE=$engine SMOKE_REQUIRE_ENGINE=1 SMOKE_CA_BUNDLE=$ca_bundle \
    BASE_IMAGE=$BASE_IMAGE CPU_BASE_IMAGE=$CPU_BASE_IMAGE \
    timeout --kill-after=60 "${GPUBP_CI_SMOKE_TIMEOUT:-3600}" bash docker/smoke.sh || rc=$?
((rc != 124)) || echo "FAIL: docker/smoke.sh timed out after ${GPUBP_CI_SMOKE_TIMEOUT:-3600} s"

total=$((SECONDS - t_start))
echo "== containers: $total s ($((total / 60)) min $((total % 60)) s; setup $((t_smoke - t_start)) s," \
    "builds and checks $((SECONDS - t_smoke)) s), exit $rc"
exit "$rc"
