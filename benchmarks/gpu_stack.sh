#!/usr/bin/env bash
# Build an xz tarball of the Python packages that `bench_train.py --gpu` needs beyond a CUDA image
# with torch, transformers, accelerate, sentence-transformers, pandas and pyarrow: Ray, DeepSpeed,
# faiss, pydantic, jsonschema and their own dependencies, installed with `pip install --target`
# for another machine's Python. Unpacked and put on PYTHONPATH there, it needs no network.
#
#   benchmarks/gpu_stack.sh [PYTHON_VERSION] [OUT]     # defaults: 3.12 build/gpu/gpu_stack.tar.xz
#
# DeepSpeed is published as a source distribution only: its wheel is built here without its
# compiled ops (DS_BUILD_OPS=0; the training job needs none of them on a GPU). Ray's Java jars,
# RLlib, Ray LLM and the dashboard's web client are left out, and Ray's binaries are stripped.
set -euo pipefail

PY=${1:-3.12}
OUT=${2:-build/gpu/gpu_stack.tar.xz}
PIP=${PIP:-.venv/bin/pip}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

PACKAGES=(ray==2.60.0 faiss-cpu==1.15.1 pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0
          typing-inspection==0.4.5 typing-extensions==4.16.0 jsonschema==4.26.0
          jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==2026.9.1 orjson==3.13.0
          rank-bm25==0.2.2 hjson==3.1.0)
PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64)
TARGET=(--python-version "$PY" --implementation cp --only-binary=:all: "${PLATFORMS[@]}")

"$PIP" download --quiet --no-deps "${TARGET[@]}" -d "$WORK/wheels" "${PACKAGES[@]}"
"$PIP" download --quiet --no-deps --no-binary=:all: -d "$WORK/sdist" deepspeed==0.19.8
DS_BUILD_OPS=0 "$PIP" wheel --quiet --no-deps --no-build-isolation -w "$WORK/wheels" "$WORK"/sdist/deepspeed-*.tar.gz
"$PIP" install --quiet --no-deps --no-compile --target "$WORK/stack" "${TARGET[@]}" "$WORK"/wheels/*.whl

rm -rf "$WORK"/stack/ray/{jars,rllib,llm,dashboard/client} "$WORK"/stack/bin
strip --strip-unneeded "$WORK"/stack/ray/_raylet.so "$WORK"/stack/ray/core/src/ray/raylet/raylet \
    "$WORK"/stack/ray/core/src/ray/gcs/gcs_server
mkdir -p "$(dirname "$OUT")"
tar -cf - -C "$WORK/stack" . | xz -9 -T0 > "$OUT"
echo "$OUT: $(du -h "$OUT" | cut -f1) ($(du -sh "$WORK/stack" | cut -f1) unpacked), Python $PY"
