#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in build-fuzz/ and runs each for N
# minutes (default 3), one after the other, starting from the seed corpus in
# a scratch copy (the committed seeds stay small). A crash stops the run: the
# input that caused it is left in build-fuzz/fuzz-findings/<target>/.
#   bash tests/fuzz/run.sh [MINUTES] [TARGET...]
# Afterwards, copy a finding into tests/fuzz/corpus/<target>/ with the fix:
# the test suite replays every corpus file under ASan/UBSan.
set -euo pipefail
cd "$(dirname "$0")/../.."
minutes=${1:-3}
[ "$minutes" -gt 0 ] || { echo "MINUTES must be at least 1" >&2; exit 2; }
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(json safetensors npy head_file clip_tower tokenizer_vocab tokenizer_encode
                                      prompts image)
if [ ! -d build-fuzz ]; then
  CC=clang meson setup build-fuzz -Dfuzz=true -Dtests=false -Dgst-plugin=disabled >/dev/null
fi
ninja -C build-fuzz $(printf 'tests/fuzz/fuzz_%s ' "${targets[@]}") >/dev/null
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for t in "${targets[@]}"; do
  work=build-fuzz/fuzz-corpus/$t findings=build-fuzz/fuzz-findings/$t
  mkdir -p "$work" "$findings"
  cp -n tests/fuzz/corpus/$t/* "$work"/ 2>/dev/null || true
  echo "== $t: $minutes min"
  build-fuzz/tests/fuzz/fuzz_$t "$work" -max_total_time=$((minutes * 60)) -max_len=65536 -rss_limit_mb=4096 \
    -timeout=20 -artifact_prefix="$findings/" -print_final_stats=1 2>&1 |
    grep -E "^#[0-9]+[[:space:]]+(DONE|INITED)|stat::number_of_executed_units|stat::peak_rss|ERROR|SUMMARY|Test unit written" || true
  if ls "$findings"/* >/dev/null 2>&1; then
    echo "$t: findings in $findings" >&2
    exit 1
  fi
done
