#!/bin/bash
# Gathers what tools/bench/gpu_run.sh runs on a lent GPU machine from a build
# made here into BUILD/gpu-bundle (about 10 MB; the whole build is over the
# 64 MiB a device run may carry): tokenclip-bench, the core test binaries
# and the library they link (tests/ref/libtokenclip-testing.so), the tiny
# encoder fixtures. The layout keeps the binaries' RUNPATHs, and the script
# checks that the bundled binaries find the bundled library.
#
#   bash tools/bench/gpu_bundle.sh [BUILD]     (BUILD: build by default)
#
# then carry [".gl", "BUILD/gpu-bundle"] with the run (see gpu_run.sh).
set -euo pipefail
build=${1:-build}
out=$build/gpu-bundle
tests=(vk_core matmul attention norm activation head map preprocess encoder encoder_batch detector)
for f in tools/tokenclip-bench tools/tokenclip-bench-streams tests/ref/libtokenclip-testing.so "${tests[@]/#/tests/test_}"; do
  [ -e "$build/$f" ] || { echo "gpu_bundle.sh: $build/$f is missing: build first (ninja -C $build)" >&2; exit 1; }
done
rm -rf "$out"
mkdir -p "$out/tools" "$out/tests/ref" "$out/core"
cp "$build/tools/tokenclip-bench" "$build/tools/tokenclip-bench-streams" "$out/tools/"
for f in "$build"/core/libtokenclip.so*; do [ -d "$f" ] || cp -P "$f" "$out/core/"; done # tokenclip-bench-streams: the public library
cp "$build/tests/ref/libtokenclip-testing.so" "$out/tests/ref/"
for t in "${tests[@]}"; do
  cp "$build/tests/test_$t" "$out/tests/"
done
cp -r "$build"/tests/encoder-tiny_* "$out/tests/"
# the streams benchmark writes its random ViT-B/16 on the device (tests/torch/clip_fixtures.py, carried in the tree)
# every tokenclip library a bundled binary loads must come from the bundle
abs=$(cd "$out" && pwd)
if ldd "$out"/tools/tokenclip-bench "$out"/tools/tokenclip-bench-streams "$out"/tests/test_* | grep "=>" | grep -i tokenclip | grep -v "=> $abs/"; then
  echo "gpu_bundle.sh: a bundled binary loads a tokenclip library from outside the bundle (above)" >&2
  exit 1
fi
echo "gpu_bundle.sh: $out ($(du -sh "$out" | cut -f1)); carry: [\".gl\", \"$out\"]"
