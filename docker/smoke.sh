#!/usr/bin/env bash
# Smoke test of the container images, for real. Builds docker/Dockerfile.cpu (the image and its
# `test` target) and docker/Dockerfile, then checks in each image that
#   - it holds the gpubp source of this checkout (a stale build layer would not),
#   - `gpubp info` runs,
#   - `gpubp train --epochs 2` run as a non-root user writes its run folder into the /runs volume
#     (a host folder here), owned by that user; without a GPU both images say "using numpy on cpu"
#     and why, and the CUDA image's reason is not "cupy is not installed",
#   - `gpubp evaluate` reads that model,
#   - `docker stop` (the images' STOPSIGNAL, SIGINT) during a longer training leaves
#     checkpoint.safetensors in the run folder, and `gpubp train --resume` in a new container
#     finishes the run,
#   - the CPU test target passes `pytest -m "not slow"`.
# Every engine command runs under a timeout; the containers and volumes made here are removed on
# exit; the images (gpubp-smoke:cpu, :cpu-test, :cuda) are kept as the next build's cache.
# docker/ci.sh provides an engine and base images on a machine that has none, then runs this.
#
#   bash docker/smoke.sh
#
# Environment (all optional):
#   SMOKE_ENGINE                      docker or podman; default docker if its daemon answers,
#                                     else podman if it works
#   BASE_IMAGE                        base of the CUDA image (the BASE_IMAGE build argument)
#   CPU_BASE_IMAGE                    base (a Python image) of the CPU image
#   PIP_INDEX_URL, PIP_TRUSTED_HOST   passed to both builds
#   SMOKE_CA_BUNDLE                   a PEM CA bundle, passed as the builds' ca_bundle secret
#   SMOKE_IMAGES                      "cpu cuda" (default), "cpu" or "cuda"
#   SMOKE_GPUS                        e.g. "all": run the CUDA image with GPUs, expect CuPy
#   SMOKE_UID, SMOKE_GID              the user the train/evaluate checks run as; default yours,
#                                     or 4321 when you are root (so that "not root" means something)
#   SMOKE_REQUIRE_ENGINE=1            no usable engine is a failure instead of a skip
# Exit status: 0 every check passed (or no engine: "skipped: no container engine"); 1 a check failed.
set -euo pipefail
cd "$(dirname "$0")/.."

engine=${SMOKE_ENGINE:-}
if [[ -z $engine ]]; then
    if command -v docker >/dev/null 2>&1 && timeout 30 docker info >/dev/null 2>&1; then
        engine=docker
    elif command -v podman >/dev/null 2>&1 && timeout 60 podman info >/dev/null 2>&1; then
        engine=podman
    fi
fi
if [[ -z $engine ]]; then
    if [[ ${SMOKE_REQUIRE_ENGINE:-0} == 1 ]]; then
        echo "FAIL: no container engine (neither docker nor podman answers)"
        exit 1
    fi
    echo "skipped: no container engine"
    exit 0
fi
[[ $engine == docker ]] && export DOCKER_BUILDKIT=1 # RUN --mount needs BuildKit

tag=gpubp-smoke
run_id="gpubp-smoke-$$"
label="gpubp-smoke=$run_id" # on every container and volume made here, for the cleanup
work=$(mktemp -d "${TMPDIR:-/tmp}/gpubp-smoke.XXXXXX")
t_start=$SECONDS
failures=()

cleanup() {
    local -a ids=()
    mapfile -t ids < <(timeout 60 "$engine" ps -aq --filter "label=$label" 2>/dev/null || true)
    ((${#ids[@]} == 0)) || timeout 120 "$engine" rm -f "${ids[@]}" >/dev/null 2>&1 || true
    mapfile -t ids < <(timeout 60 "$engine" volume ls -q --filter "label=$label" 2>/dev/null || true)
    ((${#ids[@]} == 0)) || timeout 120 "$engine" volume rm -f "${ids[@]}" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
    echo "FAIL: $1"
    failures+=("$1")
}

# check [-t LINES] DESCRIPTION SECONDS COMMAND...: run COMMAND under a timeout and show its output
# (indented; only the last LINES lines with -t), then "ok: ... (N s)" or "FAIL: ...". The output is
# left in $output and the exit status in $status; the return status is 0 for ok.
output=
status=0
check() {
    local lines=0
    if [[ $1 == -t ]]; then
        lines=$2
        shift 2
    fi
    local what=$1 limit=$2 t0=$SECONDS
    shift 2
    echo "-- $what"
    status=0
    output=$(timeout --kill-after=15 "$limit" "$@" 2>&1) || status=$?
    if [[ -z $output ]]; then
        :
    elif ((lines > 0)); then
        printf '%s\n' "$output" | tail -n "$lines" | sed 's/^/    /'
    else
        printf '%s\n' "$output" | sed 's/^/    /'
    fi
    if ((status == 124 || status == 137)); then
        fail "$what: timed out after $limit s"
        return 1
    elif ((status != 0)); then
        fail "$what: exit code $status"
        return 1
    fi
    echo "ok: $what ($((SECONDS - t0)) s)"
}

# expect DESCRIPTION TEXT / expect_not DESCRIPTION TEXT: the last check's output has / lacks TEXT.
expect() {
    if [[ $output == *"$2"* ]]; then echo "ok: $1"; else fail "$1: no '$2' in the output"; fi
}
expect_not() {
    if [[ $output != *"$2"* ]]; then echo "ok: $1"; else fail "$1: '$2' in the output"; fi
}

# The user of the train/evaluate checks: yours, or a stand-in when you are root.
uid=${SMOKE_UID:-$(id -u)}
gid=${SMOKE_GID:-$(id -g)}
if [[ -z ${SMOKE_UID:-} && $uid == 0 ]]; then
    uid=4321
    gid=4321
fi
# Options of every container run here: no network (gpubp needs none), the cleanup's label.
run_options=(--network none --label "$label")
# Podman 4.3 would set up a systemd timer for the images' HEALTHCHECK NONE, and complain without systemd.
[[ $engine == podman ]] && run_options+=(--no-healthcheck)
userns=()
if [[ $engine == podman ]] && [[ $(timeout 60 podman info --format '{{.Host.Security.Rootless}}' 2>/dev/null) == true ]]; then
    userns=(--userns=keep-id) # rootless: map the container's $uid to you, not to a subordinate uid
fi

ca_bundle=${SMOKE_CA_BUNDLE:-}
if [[ -n $ca_bundle && ! -f $ca_bundle ]]; then
    echo "SMOKE_CA_BUNDLE: no such file: $ca_bundle"
    exit 1
fi

# A hash of gpubp's Python files under the current directory, the same on the host and in an image.
# shellcheck disable=SC2016 # expanded by the shell that runs it
source_hash='LC_ALL=C find . -name "*.py" -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16'
checkout_hash=$(cd gpubp && bash -c "$source_hash")

# The larger data set of the stop/resume check: 200000 samples (about 0.8 s an epoch on 2 cores).
make_data='
import numpy as np
rng = np.random.default_rng(0)
X = rng.standard_normal((200_000, 32), dtype=np.float32)
y = (np.sin(X).sum(axis=1) + 0.5 * rng.standard_normal(200_000)).astype(np.float32)
np.savez("/runs/stop-data.npz", X=X, y=y)
'

build() { # build NAME DOCKERFILE TARGET BASE
    local args=(build --file "$2" --target "$3" --tag "$tag:$1")
    [[ $engine == podman ]] && args+=(--format docker) # the OCI format drops SHELL
    [[ -n $4 ]] && args+=(--build-arg "BASE_IMAGE=$4")
    [[ -n ${PIP_INDEX_URL:-} ]] && args+=(--build-arg "PIP_INDEX_URL=$PIP_INDEX_URL")
    args+=(--build-arg "PIP_TRUSTED_HOST=${PIP_TRUSTED_HOST:-}")
    [[ -n $ca_bundle ]] && args+=(--secret "id=ca_bundle,src=$ca_bundle")
    check -t 12 "$1: build ($2, target $3${4:+, base $4})" 1800 "$engine" "${args[@]}" .
}

smoke() { # smoke NAME DOCKERFILE BASE
    local name=$1 image="$tag:$1"
    local opts=("${run_options[@]}")
    local gpus=${SMOKE_GPUS:-}
    [[ $name == cpu ]] && gpus=
    if [[ -n $gpus && $engine == docker ]]; then
        opts+=(--gpus "$gpus")
    elif [[ -n $gpus ]]; then
        opts+=(--device "nvidia.com/gpu=$gpus") # podman: CDI
    fi
    local run=(run --rm "${opts[@]}")

    echo "== $name image ($2)"
    build "$name" "$2" runtime "$3" || return 0

    if check "$name: the image holds this checkout's gpubp" 120 \
        "$engine" "${run[@]}" --workdir / --entrypoint sh "$image" -c \
        "cd \"\$(python -c 'import gpubp, os; print(os.path.dirname(gpubp.__file__))')\" && $source_hash"; then
        if [[ $output == "$checkout_hash" ]]; then
            echo "ok: $name: source hash $output, as in the checkout"
        else
            fail "$name: the image's gpubp (hash $output) is not this checkout's ($checkout_hash): a stale layer?"
        fi
    fi

    check "$name: gpubp info" 120 "$engine" "${run[@]}" "$image" info && expect "$name: info lists numpy" "numpy"

    # train and evaluate as the user $uid:$gid, with a host folder as the /runs volume
    local runs="$work/runs-$name"
    mkdir "$runs"
    chown "$uid:$gid" "$runs"
    local as_user=(--user "$uid:$gid" "${userns[@]}" --volume "$runs:/runs")
    if check "$name: gpubp train --epochs 2, as $uid:$gid" 600 "$engine" "${run[@]}" "${as_user[@]}" "$image" train --epochs 2; then
        if [[ -n $gpus ]]; then
            expect "$name: trains on the GPU" "using cupy on cuda"
        else
            expect "$name: falls back to the CPU and says why" "using numpy on cpu (cupy unavailable: "
            [[ $name == cuda ]] && expect_not "$name: CuPy is installed, the reason is the missing GPU" "cupy is not installed"
        fi
    fi
    local folders=("$runs"/*/)
    if ((${#folders[@]} != 1)) || [[ ! -d ${folders[0]} ]]; then
        fail "$name: expected one run folder in the /runs volume, found: $(find "$runs" -mindepth 1 -maxdepth 1 -printf '%f ')"
    else
        local folder=${folders[0]%/} owners
        echo "-- $name: the run folder in the /runs volume"
        find "$folder" -mindepth 1 -printf '    %M %U:%G %9s %f\n'
        owners=$(stat -c '%u:%g' "$folder" "$folder"/* | sort -u | tr '\n' ' ')
        if [[ ! -s $folder/model.safetensors || ! -s $folder/metrics.jsonl ]]; then
            fail "$name: no model.safetensors or metrics.jsonl in runs/${folder##*/}"
        elif [[ $owners != "$uid:$gid " ]]; then
            fail "$name: the run folder belongs to $owners, not to $uid:$gid"
        else
            echo "ok: $name: runs/${folder##*/} holds the model, owned by $uid:$gid (not root)"
        fi
        check "$name: gpubp evaluate /runs/${folder##*/}/model.safetensors" 300 \
            "$engine" "${run[@]}" "${as_user[@]}" "$image" evaluate "/runs/${folder##*/}/model.safetensors" &&
            expect "$name: evaluate reports the loss" "loss"
    fi

    stop_and_resume "$name" "$image" "${opts[@]}"
}

stop_and_resume() { # stop_and_resume NAME IMAGE RUN_OPTIONS...: the image's user and a named volume
    local name=$1 image=$2
    shift 2
    local opts=("$@") volume="$run_id-$name" container="$run_id-$name-train"
    local runs=(run --rm "${opts[@]}" --volume "$volume:/runs")
    check "$name: a volume for the stop/resume check" 60 "$engine" volume create --label "$label" "$volume" || return 0
    check "$name: a larger data set in it" 300 "$engine" "${runs[@]}" --entrypoint python "$image" -c "$make_data" || return 0
    check "$name: start gpubp train --epochs 12 on it, detached" 120 \
        "$engine" run --detach --name "$container" "${opts[@]}" --volume "$volume:/runs" \
        "$image" train --data /runs/stop-data.npz --epochs 12 --out /runs/stopped || return 0

    echo "-- $name: wait for the first epoch's checkpoint"
    local t0=$SECONDS
    until timeout 30 "$engine" exec "$container" test -f /runs/stopped/checkpoint.safetensors 2>/dev/null; do
        if [[ $(timeout 30 "$engine" inspect --format '{{.State.Running}}' "$container" 2>&1) != true ]]; then
            timeout 60 "$engine" logs "$container" 2>&1 | sed 's/^/    /'
            fail "$name: the training ended before its first checkpoint"
            return 0
        elif ((SECONDS - t0 > 300)); then
            fail "$name: no checkpoint after 300 s"
            return 0
        fi
        sleep 0.2
    done
    echo "ok: $name: checkpoint after $((SECONDS - t0)) s"

    check "$name: $engine stop (STOPSIGNAL $(timeout 30 "$engine" image inspect --format '{{.Config.StopSignal}}' "$image"))" 120 \
        "$engine" stop --time 60 "$container" || return 0
    local code
    code=$(timeout 60 "$engine" wait "$container" 2>&1) || true
    check "$name: the stopped container's output" 60 "$engine" logs "$container" || true
    if [[ $code == 130 || $code == 143 ]]; then
        echo "ok: $name: the stopped training exited with $code"
        expect "$name: it says how to resume" "--resume"
    elif [[ $code == 0 ]]; then
        fail "$name: the training finished before the stop (exit 0): make the stop/resume run longer"
    else
        fail "$name: the stopped training exited with '$code', not 130 or 143"
    fi
    # shellcheck disable=SC2016 # expanded in the container
    check "$name: checkpoint.safetensors kept, owned by the image's user" 120 \
        "$engine" "${runs[@]}" --entrypoint sh "$image" -c \
        'ls -ln /runs/stopped && test -s /runs/stopped/checkpoint.safetensors &&
         test "$(stat -c %u /runs/stopped/checkpoint.safetensors)" = "$(id -u)" && test "$(id -u)" != 0' || return 0
    check "$name: gpubp train --resume /runs/stopped, in a new container" 600 \
        "$engine" "${runs[@]}" "$image" train --resume /runs/stopped || return 0
    check "$name: the resumed run finished: model.safetensors, no checkpoint" 120 \
        "$engine" "${runs[@]}" --entrypoint sh "$image" -c \
        'ls -ln /runs/stopped && test -s /runs/stopped/model.safetensors && test ! -e /runs/stopped/checkpoint.safetensors' || true
}

echo "== engine: $engine ($(timeout 30 "$engine" --version 2>&1 | head -n 1))"
for name in ${SMOKE_IMAGES:-cpu cuda}; do
    case $name in
    cpu)
        smoke cpu docker/Dockerfile.cpu "${CPU_BASE_IMAGE:-}"
        echo "== cpu test target"
        if build cpu-test docker/Dockerfile.cpu test "${CPU_BASE_IMAGE:-}"; then
            check -t 15 'cpu-test: pytest -m "not slow"' 1800 \
                "$engine" run --rm "${run_options[@]}" "$tag:cpu-test" pytest -m "not slow" || true
        fi
        ;;
    cuda) smoke cuda docker/Dockerfile "${BASE_IMAGE:-}" ;;
    *)
        echo "SMOKE_IMAGES: unknown image '$name' (cpu, cuda)"
        exit 2
        ;;
    esac
done

echo "== smoke: $((SECONDS - t_start)) s"
if ((${#failures[@]} > 0)); then
    echo "smoke: ${#failures[@]} check(s) failed:"
    printf '  %s\n' "${failures[@]}"
    exit 1
fi
echo "smoke: all checks passed"
