#!/usr/bin/env bash
# Smoke test of the container images: builds docker/Dockerfile (CUDA) and docker/Dockerfile.cpu
# with docker (when its daemon answers) or else podman, then runs `gpubp info` and a one-epoch
# `gpubp train` in each, checking exit codes, that the run folder lands in the /runs volume and,
# with no GPU passed in, that the CUDA image falls back to NumPy and says why.
# Without a usable engine it prints "skipped: no container engine" and exits 0.
#
#   bash docker/smoke.sh
#
# Environment (all optional):
#   BASE_IMAGE                        base of the CUDA image, e.g. one already pulled or
#                                     provided locally for an offline build
#   CPU_BASE_IMAGE                    base (the Python image) of the CPU image
#   PIP_INDEX_URL, PIP_TRUSTED_HOST   passed to both builds
#   SMOKE_IMAGES                      "cuda cpu" (default), "cuda" or "cpu"
#   SMOKE_GPUS                        e.g. "all": run the CUDA image with GPUs, expect CuPy
set -euo pipefail
cd "$(dirname "$0")/.."

engine=
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    engine=docker
    export DOCKER_BUILDKIT=1 # RUN --mount needs BuildKit (the default since Docker 23)
elif command -v podman >/dev/null 2>&1 && podman info >/dev/null 2>&1; then
    engine=podman
fi
if [[ -z $engine ]]; then
    echo "skipped: no container engine"
    exit 0
fi
echo "== engine: $engine"

volume="gpubp-smoke-runs-$$"
failures=0
cleanup() {
    "$engine" volume rm --force "$volume" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# check DESCRIPTION COMMAND...: run it, show its output, count a failure on a non-zero exit.
# The output is left in $output for further checks.
output=
check() {
    local what=$1 rc=0
    shift
    echo "-- $what"
    output=$("$@" 2>&1) || rc=$?
    printf '%s\n' "$output"
    if ((rc != 0)); then
        echo "FAIL: $what: exit code $rc"
        failures=$((failures + 1))
        return 1
    fi
    echo "ok: $what"
}

# expect DESCRIPTION TEXT: the last check's output contains TEXT.
expect() {
    if [[ $output == *"$2"* ]]; then
        echo "ok: $1"
    else
        echo "FAIL: $1: no '$2' in the output"
        failures=$((failures + 1))
    fi
}

smoke() {
    local name=$1 dockerfile=$2 base=$3
    local image="gpubp-smoke:$name"
    local build=(build --file "$dockerfile" --target runtime --tag "$image")
    local run=(run --rm)
    [[ -n $base ]] && build+=(--build-arg "BASE_IMAGE=$base")
    [[ -n ${PIP_INDEX_URL:-} ]] && build+=(--build-arg "PIP_INDEX_URL=$PIP_INDEX_URL")
    [[ -n ${PIP_TRUSTED_HOST:-} ]] && build+=(--build-arg "PIP_TRUSTED_HOST=$PIP_TRUSTED_HOST")
    local gpus=${SMOKE_GPUS:-}
    [[ $name == cpu ]] && gpus=
    if [[ -n $gpus && $engine == docker ]]; then
        run+=(--gpus "$gpus")
    elif [[ -n $gpus ]]; then
        run+=(--device "nvidia.com/gpu=$gpus") # podman: CDI
    fi

    echo "== $name image ($dockerfile)"
    check "$name: build" "$engine" "${build[@]}" . || return 0
    check "$name: gpubp info" "$engine" "${run[@]}" "$image" info || true

    "$engine" volume rm --force "$volume" >/dev/null 2>&1 || true
    "$engine" volume create "$volume" >/dev/null
    if check "$name: gpubp train --epochs 1" "$engine" "${run[@]}" --volume "$volume:/runs" "$image" train --epochs 1; then
        if [[ -n $gpus ]]; then
            expect "$name: trains on the GPU" "using cupy on cuda"
        else
            expect "$name: falls back to the CPU and says why" "using numpy on cpu (cupy unavailable: "
        fi
    fi
    check "$name: the run folder is in the /runs volume" \
        "$engine" run --rm --volume "$volume:/runs" --entrypoint /bin/sh "$image" \
        -c 'ls -l /runs/*/model.safetensors /runs/*/metrics.jsonl' || true
}

for name in ${SMOKE_IMAGES:-cuda cpu}; do
    case $name in
    cuda) smoke cuda docker/Dockerfile "${BASE_IMAGE:-}" ;;
    cpu) smoke cpu docker/Dockerfile.cpu "${CPU_BASE_IMAGE:-}" ;;
    *)
        echo "SMOKE_IMAGES: unknown image '$name' (cuda, cpu)"
        exit 2
        ;;
    esac
done

if ((failures > 0)); then
    echo "smoke: $failures check(s) failed"
    exit 1
fi
echo "smoke: all checks passed"
