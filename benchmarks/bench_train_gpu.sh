#!/usr/bin/env bash
# `bench_train.py --gpu` in several configurations, on a CUDA machine without network whose Python
# lacks Ray, DeepSpeed and faiss (packed by benchmarks/gpu_stack.sh) and this checkout's data.
#
# Here (network, the shared data sets beside the checkout, a tape):
#   benchmarks/gpu_stack.sh 3.12                               # build/gpu/gpu_stack.tar.xz
#   benchmarks/bench_train_gpu.sh pack data/tapes/sgd          # build/gpu/gpu_data.tar.xz: the tape, SGD dev
# There, from the repository root, with build/gpu/ copied along:
#   benchmarks/bench_train_gpu.sh run OUT_DIR                  # logs and summary.txt under OUT_DIR
#
# Each configuration runs under its own time limit, and none starts past BUDGET seconds; the
# summary holds one `== result` line each (tokens/s, MFU). Torch's compile cache is shared by the
# runs, so only the first compiled run pays for most of the compilation.
set -uo pipefail

BUNDLE=${BUNDLE:-build/gpu}
STEPS=${STEPS:-60}
LIMIT=${LIMIT:-200}    # seconds a configuration
BUDGET=${BUDGET:-330}  # seconds after which no configuration starts (the whole run stays under 10 minutes)

pack() {
    local tape=${1:?usage: bench_train_gpu.sh pack TAPE_DIR}
    local datasets=${GLYPH_DIST_DATASETS:-../shared/datasets}
    local stage
    stage=$(mktemp -d)
    mkdir -p "$stage/tapes" "$stage/datasets/sgd" "$BUNDLE"
    cp -rL "$tape" "$stage/tapes/sgd"
    cp -r "$datasets/sgd/dev" "$stage/datasets/sgd/dev"
    tar -cf - -C "$stage" tapes datasets | xz -9 -T0 > "$BUNDLE/gpu_data.tar.xz"
    rm -rf "$stage"
    echo "$BUNDLE/gpu_data.tar.xz: $(du -h "$BUNDLE/gpu_data.tar.xz" | cut -f1)"
}

untar() {  # with Python's lzma where the machine has no xz
    tar -xJf "$1" -C "$2" 2> /dev/null ||
        python3 -c "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" "$1" "$2"
}

run() {
    local out=${1:?usage: bench_train_gpu.sh run OUT_DIR}
    local stack=/tmp/gpu_stack data=/tmp/gpu_data started=$SECONDS
    mkdir -p "$out" "$stack" "$data"
    untar "$BUNDLE/gpu_stack.tar.xz" "$stack" && untar "$BUNDLE/gpu_data.tar.xz" "$data" || exit 1
    export PYTHONPATH="$PWD:$stack" GLYPH_DIST_DATASETS="$data/datasets" PYTHONUNBUFFERED=1
    export DS_ACCELERATOR=cuda DS_BUILD_OPS=0  # torch's fused AdamW: no DeepSpeed op is compiled
    echo "unpacked in $((SECONDS - started)) s"
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv | tee "$out/gpu.txt"
    python3 -c "import torch, transformers, ray, deepspeed, faiss
print('torch', torch.__version__, 'transformers', transformers.__version__, 'ray', ray.__version__,
      'deepspeed', deepspeed.__version__, 'faiss', faiss.__version__)" 2>&1 | grep -v WARNING | tee -a "$out/gpu.txt"

    local configs=(
        "mb128 --gpu-micro-batch 128"
        "mb128_eager --gpu-micro-batch 128 --set torch_compile=false"
        "mb256 --gpu-micro-batch 256"
        "mb128_unsorted --gpu-micro-batch 128 --set length_window=1"
        "mb64 --gpu-micro-batch 64"
    )
    for config in "${configs[@]}"; do
        read -r name flags <<< "$config"
        if (( SECONDS - started > BUDGET )); then
            echo "== skipped $name: past the ${BUDGET} s budget" | tee -a "$out/summary.txt"
            continue
        fi
        local begun=$SECONDS
        # shellcheck disable=SC2086
        timeout "$LIMIT" python3 benchmarks/bench_train.py --gpu --steps "$STEPS" --tape "$data/tapes/sgd" $flags \
            > "$out/$name.log" 2>&1
        local rc=$?
        python3 -m ray.scripts.scripts stop --force > /dev/null 2>&1  # a run cut off by its limit leaves Ray behind
        { grep -h "^== result" "$out/$name.log" | sed "s/^== result/== $name/" || true
          echo "   ($name: exit $rc, $((SECONDS - begun)) s)"; } | tee -a "$out/summary.txt"
    done
    echo "total $((SECONDS - started)) s"
    grep -h "^-- \|^   batches\|^   MFU" "$out/mb128.log" 2>/dev/null
}

"$@"
