#!/bin/bash
# Every GPU measurement of issue 13 in one run of a few minutes on a lent
# NVIDIA machine (GPU time is scarce: one run must say everything).
#
# Here, before the run (the device gets only runtime libraries):
#   meson setup build && ninja -C build && bash tools/bench/gpu_bundle.sh
# On the device, from the repository root, carrying [".gl", "build/gpu-bundle"]:
#   bash tools/bench/gpu_run.sh
# Here, as a dry run on lavapipe (no GPU-only parts, small cases, emulated
# cooperative matrices, PyTorch on the CPU), to catch mistakes in the script:
#   OUT=/tmp/gpu-run bash tools/bench/gpu_run.sh --lavapipe
#
# It writes 7 files under $OUT:
#   summary.txt  what ran, how long, pass/fail; the headline numbers; what
#                could not run and why
#   env.txt      the Vulkan devices, ldd of the binaries, nvidia-smi -q
#                (clocks, performance state, throttle reasons) before and after
#   tests.txt    the core tests (gpu family; cooperative matrices on and off)
#   bench.txt    tokenclip-bench: micro cases, encoder, the encoder graph
#                from the ops with fp16 activations and batches; cooperative
#                matrices on and off; every run's time (--per-run)
#   profile.txt  GPU time per kernel label and dispatch count of one frame
#   torch.txt    PyTorch on the same shapes (fp32 and fp16 autocast, bmm and
#                SDPA attention, batch 1 and 8) with our time / torch's
#   smi.csv      nvidia-smi sampled every 100 ms through the run, with phase
#                markers: the clocks behind bimodal timings
#   streams.txt  issue 17: device memory and throughput of 1, 4, 16 streams,
#                a model each against one shared batching model
#                (tokenclip-bench-streams on a random ViT-B/16 written here)
# Each step has a hard timeout and the whole script a budget
# (GPU_RUN_BUDGET_S, 460 s by default), so one hang cannot eat the run.
set -u
LAVAPIPE=0
[ "${1:-}" = "--lavapipe" ] && LAVAPIPE=1
OUT=${OUT:-/tmp/gpu-run-out}
BUNDLE=${BUNDLE:-build/gpu-bundle}
BUDGET=${GPU_RUN_BUDGET_S:-460}
START=$(date +%s)
mkdir -p "$OUT"
SUMMARY=$OUT/summary.txt ENVF=$OUT/env.txt TESTS=$OUT/tests.txt BENCH=$OUT/bench.txt PROFILE=$OUT/profile.txt
TORCH=$OUT/torch.txt SMI=$OUT/smi.csv STREAMS=$OUT/streams.txt
: > "$SUMMARY" && : > "$ENVF" && : > "$TESTS" && : > "$BENCH" && : > "$PROFILE" && : > "$TORCH" && : > "$SMI"
: > "$STREAMS"
# scratch outside $OUT (only 8 files come back)
WORK=$(mktemp -d /tmp/gpu-run.XXXXXX)
export TMPDIR=$WORK XDG_CACHE_HOME=$WORK/cache TOKENCLIP_VALIDATE=0 CI=true
BENCH_BIN=$BUNDLE/tools/tokenclip-bench
T=$BUNDLE/tests

note() { echo "$*" | tee -a "$SUMMARY"; }
left() { echo $((BUDGET - ($(date +%s) - START))); }
phase() { # a marker in smi.csv, aligned with nvidia-smi's timestamps
  echo "# $(date '+%Y/%m/%d %H:%M:%S.%3N') phase: $*" >> "$SMI"
}

# step NAME CAP_S LOG CMD...: CMD under a timeout of min(CAP_S, the time
# left), output appended to LOG, one status line in the summary.
FAILED=0
step() {
  local name=$1 cap=$2 log=$3
  shift 3
  local l
  l=$(left)
  local t=$((cap < l ? cap : l))
  if [ "$t" -lt 10 ]; then
    note "$(printf '%-8s %7s  %s' "NOT RUN" "" "$name (the run's time budget is spent)")"
    return 1
  fi
  phase "$name"
  echo "=== $name (timeout ${t}s): $*" >> "$log"
  local t0 rc
  t0=$(date +%s%N)
  timeout -k 5 "$t" "$@" >> "$log" 2>&1
  rc=$?
  local ms=$((($(date +%s%N) - t0) / 1000000)) status=ok
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    status=TIMEOUT
  elif [ $rc -eq 77 ]; then
    status=SKIP
  elif [ $rc -ne 0 ]; then
    status="FAIL($rc)"
  fi
  [ "$status" = ok ] || [ "$status" = SKIP ] || FAILED=$((FAILED + 1))
  echo "=== $name: $status in $((ms / 1000)).$(((ms % 1000) / 100)) s" >> "$log"
  note "$(printf '%-8s %6d.%01ds  %s' "$status" $((ms / 1000)) $(((ms % 1000) / 100)) "$name")"
  return $rc
}

note "# gpu_run.sh $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(hostname), mode: $([ $LAVAPIPE = 1 ] && echo 'lavapipe dry run' || echo device)"
note "# git: $(git log -1 --format='%h %s' 2>/dev/null || echo '(no git)')"

# ---- Vulkan: the loader (carried as .deb in .gl/) and the NVIDIA driver ----
if [ $LAVAPIPE = 1 ]; then
  export VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json
  COOP_ON=emulate
  PY=/usr/bin/python3
  TORCH_DEVICE=cpu
else
  if ls .gl/*.deb > /dev/null 2>&1; then
    for f in .gl/*.deb; do dpkg -x "$f" / >> "$ENVF" 2>&1 || note "WARNING: dpkg -x $f failed"; done
    ldconfig >> "$ENVF" 2>&1
  else
    note "WARNING: no .gl/*.deb here: the Vulkan loader must already be installed (carry .gl)"
  fi
  COOP_ON=1
  PY=python3
  TORCH_DEVICE=cuda
fi
if [ ! -x "$BENCH_BIN" ]; then
  note "FATAL: $BENCH_BIN is missing: run tools/bench/gpu_bundle.sh before the run and carry $BUNDLE"
  exit 1
fi
LIBS=("$BENCH_BIN" "$T/test_matmul" "$T/ref/libtokenclip-testing.so")
{
  echo "=== ldd (what the binaries need besides libvulkan: libz for the tests' library, libm, libc)"
  ldd "${LIBS[@]}"
} >> "$ENVF" 2>&1
if ldd "${LIBS[@]}" 2>&1 | grep -q "not found"; then
  note "WARNING: missing libraries: $(ldd "${LIBS[@]}" 2>&1 | grep 'not found' | sort -u | tr -s ' \t\n' ' ')"
fi
devices() { timeout 30 "$BENCH_BIN" --list-devices 2>&1; }
DEVS=$(devices)
if [ $LAVAPIPE = 0 ] && ! echo "$DEVS" | grep -qi nvidia; then
  for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json \
             /etc/vulkan/icd.d/nvidia_icd.json /usr/local/share/vulkan/icd.d/nvidia_icd.json; do
    if [ -f "$icd" ]; then
      export VK_DRIVER_FILES=$icd VK_ICD_FILENAMES=$icd
      note "# no NVIDIA device by default: VK_DRIVER_FILES=$icd"
      break
    fi
  done
  DEVS=$(devices)
fi
echo "=== Vulkan devices" >> "$ENVF"
echo "$DEVS" >> "$ENVF"
note "# Vulkan devices: $(echo "$DEVS" | tr '\n' ';')"
if [ $LAVAPIPE = 0 ] && ! echo "$DEVS" | grep -qi nvidia; then
  note "FATAL: no NVIDIA Vulkan device (see env.txt); nothing measured"
  exit 1
fi
[ $LAVAPIPE = 0 ] && export TOKENCLIP_DEVICE=NVIDIA

# ---- nvidia-smi: state before, samples all along, state after ----
SMI_PID=
if [ $LAVAPIPE = 0 ] && command -v nvidia-smi > /dev/null; then
  { echo "=== nvidia-smi -q -d PERFORMANCE,CLOCK,POWER before"; timeout 20 nvidia-smi -q -d PERFORMANCE,CLOCK,POWER; } >> "$ENVF" 2>&1
  note "# before: $(timeout 20 nvidia-smi --query-gpu=name,driver_version,pstate,clocks.sm,clocks.mem,clocks.max.sm,power.draw,temperature.gpu,persistence_mode --format=csv,noheader 2>&1)"
  echo "timestamp, pstate, clocks.sm [MHz], clocks.mem [MHz], power.draw [W], utilization.gpu [%], temperature.gpu" >> "$SMI"
  nvidia-smi --query-gpu=timestamp,pstate,clocks.sm,clocks.mem,power.draw,utilization.gpu,temperature.gpu \
    --format=csv,noheader -lms 100 >> "$SMI" 2>&1 &
  SMI_PID=$!
else
  note "# nvidia-smi: not here (lavapipe dry run or not installed): no clock samples"
fi
stop_smi() { [ -n "$SMI_PID" ] && kill "$SMI_PID" 2> /dev/null; SMI_PID=; }
trap 'stop_smi; rm -rf "$WORK"' EXIT

# ---- 1. correctness first: the kernels this run measures ----
note ""
note "## tests (gpu family; the matmul and attention tests run cpu, gpu, emulated and real cooperative matrices themselves)"
if [ $LAVAPIPE = 1 ]; then
  QUICK_TESTS="vk_core norm activation"
  MORE_TESTS=""
else
  QUICK_TESTS="vk_core matmul attention norm activation"
  MORE_TESTS="head map preprocess"
fi
for t in $QUICK_TESTS; do
  step "test $t" 150 "$TESTS" "$T/test_$t"
done
grep -h "coopmat worst\|has no VK_NV\|coopmat.*FAIL\|^FAIL" "$TESTS" | sort | uniq -c | sort -rn | head -20 >> "$SUMMARY"

# ---- 2. tokenclip-bench, cooperative matrices on ----
if [ $LAVAPIPE = 1 ]; then
  export TOKENCLIP_KERNELS=gpu
  REPS="--reps 2 --warmup 1"
  MICRO=("attention_h 197x12x64" "layernorm_h 197x768" "matmul_a16 197x768x768")
  MODELS=("layers_a16 64/16x2" "encoder_f32 64/16x" "encoder_prec_fp32 64/16" "encoder_prec_fp16 64/16")
  WALL_MODELS=("layers_a16 64/16x2")
else
  REPS="--reps 15 --warmup 5 --warmup-ms 300"
  MICRO=("matmul_f16 " "matmul_a16" "matmul_f16k" "attention" "layernorm")
  MODELS=("encoder_" "layers_")  # encoder_ takes encoder_prec_fp32/fp16 (the precision setting) too
  WALL_MODELS=("encoder_f16" "layers_a16" "layers_f32k" "layers_a16k")
fi
note ""
note "## tokenclip-bench, cooperative matrices on (TOKENCLIP_COOPMAT=$COOP_ON)"
ON=$WORK/bench_on.txt OFF=$WORK/bench_off.txt WALL=$WORK/bench_wall.txt
TOKENCLIP_COOPMAT=$COOP_ON step "bench micro cases, coopmat on" 90 "$ON" "$BENCH_BIN" $REPS --per-run "${MICRO[@]}"
TOKENCLIP_COOPMAT=$COOP_ON step "bench encoder and layers, coopmat on (GPU timestamps)" 150 "$ON" \
  "$BENCH_BIN" $REPS --per-run --profile "${MODELS[@]}"
TOKENCLIP_COOPMAT=$COOP_ON step "bench encoder and layers, coopmat on (wall clock, no timestamps)" 90 "$WALL" \
  "$BENCH_BIN" $REPS --per-run --wall "${WALL_MODELS[@]}"

# ---- 3. PyTorch on the same shapes, with the ratios ----
note ""
note "## PyTorch ($TORCH_DEVICE), ratios against our coopmat-on rows"
if [ $LAVAPIPE = 1 ]; then
  TORCH_RUNS=("--reps 2 --batch 2 tiny" "--reps 2 --batch 2 --autocast tiny")
else
  # fp32 and fp16 autocast eager with SDPA (what nn.MultiheadAttention runs
  # on a GPU), fp16 with CLIP's bmm attention, and batches of 8
  TORCH_RUNS=("--reps 15 --warmup 5 --sdpa" "--reps 15 --warmup 5 --autocast --sdpa"
              "--reps 15 --warmup 5 --autocast" "--reps 10 --warmup 3 --batch 8 --sdpa 224/16"
              "--reps 10 --warmup 3 --batch 8 --autocast --sdpa 224/16")
fi
if $PY -c "import torch" > /dev/null 2>&1; then
  for args in "${TORCH_RUNS[@]}"; do
    # shellcheck disable=SC2086
    step "torch $args" 90 "$TORCH" $PY tools/bench/torch_bench_encoder.py --device "$TORCH_DEVICE" --per-run \
      --ours "$ON" $args
  done
else
  note "NOT RUN: PyTorch ($PY has no torch)"
fi

# ---- 4. tokenclip-bench, cooperative matrices off ----
note ""
note "## tokenclip-bench, cooperative matrices off"
TOKENCLIP_COOPMAT=0 step "bench micro cases, coopmat off" 60 "$OFF" "$BENCH_BIN" $REPS "${MICRO[@]}"
TOKENCLIP_COOPMAT=0 step "bench encoder and layers, coopmat off" 120 "$OFF" "$BENCH_BIN" $REPS --per-run \
  "${MODELS[@]}"

# ---- 5. the rest of the tests, and the encoder at the gpu family with the environment's coopmat ----
note ""
note "## more tests"
for t in $MORE_TESTS; do
  step "test $t" 60 "$TESTS" "$T/test_$t"
done
ENC_CASES=("encoder-tiny_hf_f32 0 0 bicubic ref" "encoder-tiny_openclip_f16_vv 48 2 bicubic ref"
           "encoder-tiny_hf_bf16_gelu_bilinear 40 1 bilinear ref")
for c in "${ENC_CASES[@]}"; do
  set -- $c
  TOKENCLIP_KERNELS=gpu TOKENCLIP_COOPMAT=0 step "test encoder $1 (gpu, coopmat off)" 60 "$TESTS" \
    "$T/test_encoder" "$T/$1" "$2" "$3" "$4" "$5"
done
# with fp16 matrices the encoder leaves the fp32 tolerance it is tested to:
# informative (the errors it prints), not a verdict (not on lavapipe: the
# emulation compiles for minutes)
[ $LAVAPIPE = 1 ] && ENC_CASES=()
for c in "${ENC_CASES[@]:0:2}"; do
  set -- $c
  TOKENCLIP_KERNELS=gpu TOKENCLIP_COOPMAT=$COOP_ON step "test encoder $1 (gpu, coopmat on: informative, fp32 tolerance)" \
    60 "$TESTS" "$T/test_encoder" "$T/$1" "$2" "$3" "$4"
done
TOKENCLIP_KERNELS=gpu TOKENCLIP_COOPMAT=0 step "test detector (gpu, coopmat off)" 90 "$TESTS" "$T/test_detector" \
  "$T/encoder-tiny_hf_f32/model.safetensors"
# the encoder's batch dimension: 1, 3, 8 frames in one submission equal single runs bit for bit
TOKENCLIP_KERNELS=gpu TOKENCLIP_COOPMAT=0 step "test encoder_batch (gpu, coopmat off)" 60 "$TESTS" \
  "$T/test_encoder_batch" "$T/encoder-tiny_openclip_f16_vv" 48 2

# ---- 6. many streams on one GPU (issue 17): separate models against one shared, batching model ----
note ""
note "## streams: a model each against one shared model with batches (tokenclip-bench-streams)"
if $PY -c "import torch" > /dev/null 2>&1; then
  if [ $LAVAPIPE = 1 ]; then
    S_MODEL=$T/encoder-tiny_hf_f32/model.safetensors S_DIM=96 S_ARGS=(--streams 1,4 --frames 4)
  else
    S_MODEL=$WORK/b16/model.safetensors S_DIM=512 S_ARGS=(--streams 1,4,16 --frames 16)
    step "random ViT-B/16 (fp16) for the streams" 60 "$STREAMS" $PY tests/torch/clip_fixtures.py --config b16 \
      --dtype f16 --forward-dtype none --out "$WORK/b16"
  fi
  step "random head (D $S_DIM)" 30 "$STREAMS" $PY tests/torch/random_head.py "$WORK/head.safetensors" --dim $S_DIM
  step "streams" 120 "$STREAMS" "$BUNDLE/tools/tokenclip-bench-streams" "$S_MODEL" "$WORK/head.safetensors" \
    "${S_ARGS[@]}"
  grep -E "^ +[0-9]+ +(separate|shared)" "$STREAMS" | tee -a "$SUMMARY"
else
  note "NOT RUN: streams ($PY has no torch to write the random model)"
fi

# ---- the files and the summary ----
stop_smi
if [ $LAVAPIPE = 0 ] && command -v nvidia-smi > /dev/null; then
  { echo "=== nvidia-smi -q -d PERFORMANCE,CLOCK,POWER after"; timeout 20 nvidia-smi -q -d PERFORMANCE,CLOCK,POWER; } >> "$ENVF" 2>&1
  note "# after: $(timeout 20 nvidia-smi --query-gpu=pstate,clocks.sm,clocks.mem,power.draw,temperature.gpu --format=csv,noheader 2>&1)"
fi
for f in "$ON" "$WALL" "$OFF"; do
  [ -f "$f" ] || continue
  echo "##### $(basename "$f" .txt)" >> "$BENCH"
  grep -v "^#   " "$f" >> "$BENCH"
  echo "##### $(basename "$f" .txt)" >> "$PROFILE"
  grep -E "^#   |^[a-z]|^=== " "$f" >> "$PROFILE"
done
note ""
note "## headline: our rows (coopmat on; ms = median, GPU timestamps unless 'wall')"
grep -hE "^(encoder_|layers_|attention|matmul_a16|layernorm_h)" "$ON" 2>/dev/null | tee -a "$SUMMARY"
grep -hE "^(encoder_|layers_)" "$WALL" 2>/dev/null | sed 's/^/wall: /' | tee -a "$SUMMARY"
note "## throughput (frames/s; issue 13: 8 frames in one submission >= 4x one)"
grep -h "frames/s" "$ON" 2>/dev/null | tee -a "$SUMMARY"
note "## coopmat off"
grep -hE "^(encoder_|layers_)" "$OFF" 2>/dev/null | tee -a "$SUMMARY"
note "## PyTorch (columns: ours/torch per kernel; below 1: we are faster)"
grep -hE "^# torch|^# model|^ViT|^tiny" "$TORCH" | tee -a "$SUMMARY"
note ""
note "## could not run"
grep -h "skipped:" "$ON" "$OFF" "$WALL" 2>/dev/null | sort -u | tee -a "$SUMMARY"
note "- nothing known: the encoder at fp16 is the encoder_prec_fp16 cases (the precision setting), batches the"
note "  encoder_* 'x8' cases (tc_encoder_record_batch), many streams streams.txt"
note "- test_encoder with cooperative matrices is held to the fp32 tolerance: its failures there are informative"
note ""
note "# $FAILED step(s) failed or timed out; $(($(date +%s) - START)) s of a $BUDGET s budget"
exit 0
