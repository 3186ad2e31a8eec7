#!/bin/bash
# Gathers what tools/bench/gpu_run.sh runs on a lent GPU machine from a build
# made here into BUILD/gpu-bundle (about 10 MB; the whole build is over the
# 64 MiB a device run may carry): libtokenclip, tokenclip-bench, the core
# test binaries and the tiny encoder fixtures. The layout keeps the
# binaries' RUNPATH ($ORIGIN/../core).
#
#   bash tools/bench/gpu_bundle.sh [BUILD]     (BUILD: build by default)
#
# then carry [".gl", "BUILD/gpu-bundle"] with the run (see gpu_run.sh).
set -euo pipefail
build=${1:-build}
out=$build/gpu-bundle
tests=(vk_core matmul attention norm activation head map preprocess encoder detector)
for f in core/libtokenclip.so.0 tools/tokenclip-bench "${tests[@]/#/tests/test_}"; do
  [ -e "$build/$f" ] || { echo "gpu_bundle.sh: $build/$f is missing: build first (ninja -C $build)" >&2; exit 1; }
done
rm -rf "$out"
mkdir -p "$out/core" "$out/tools" "$out/tests"
for f in "$build"/core/libtokenclip.so*; do
  [ -d "$f" ] || cp -P "$f" "$out/core/"
done
cp "$build/tools/tokenclip-bench" "$out/tools/"
for t in "${tests[@]}"; do
  cp "$build/tests/test_$t" "$out/tests/"
done
cp -r "$build"/tests/encoder-tiny_* "$out/tests/"
echo "gpu_bundle.sh: $out ($(du -sh "$out" | cut -f1)); carry: [\".gl\", \"$out\"]"
