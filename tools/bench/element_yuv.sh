#!/usr/bin/env bash
# CPU time per frame of a whole 1080p NV12 pipeline through tokenclip, with
# and without videoconvert (issue 18): what feeding YUV straight in saves.
#
#   bash tools/bench/element_yuv.sh [FRAMES] [INTERVAL] [MODEL] [HEAD]
#
# Defaults: 300 frames, inference-interval 30 (a fixed analysis rate, so the
# conversion cost is not hidden under the model's), the test suite's tiny
# model and head from ./build (run `ninja -C build` and the element test's
# fixtures first: `meson test -C build element`). Three pipelines, each run
# with /usr/bin/time (user + system CPU of the whole gst-launch process):
#   source    videotestsrc NV12 1080p ! fakesink       (what the frames cost to make)
#   direct    ... NV12 ! tokenclip ! fakesink
#   convert   ... NV12 ! videoconvert ! RGBA ! tokenclip ! videoconvert ! NV12 ! fakesink
# Prints CPU ms per frame for each, and each minus the source's.
set -euo pipefail
cd "$(dirname "$0")/../.."
frames=${1:-300}
interval=${2:-30}
model=${3:-build/tests/encoder-tiny_hf_f32/model.safetensors}
head=${4:-build/tests/element-head-96.safetensors}
for f in "$model" "$head"; do
  [ -f "$f" ] || { echo "element_yuv.sh: $f is missing (build the element test's fixtures)" >&2; exit 1; }
done
export GST_PLUGIN_PATH=${GST_PLUGIN_PATH:-$PWD/build/gst-plugin}
export VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-/usr/share/vulkan/icd.d/lvp_icd.x86_64.json}

src="videotestsrc num-buffers=$frames pattern=smpte ! video/x-raw,format=NV12,width=1920,height=1080,framerate=30/1"
tc="tokenclip model=$model head=$head inference-interval=$interval"
declare -A pipe=(
  [source]="$src ! fakesink"
  [direct]="$src ! $tc ! fakesink"
  [convert]="$src ! videoconvert ! video/x-raw,format=RGBA ! $tc ! videoconvert ! video/x-raw,format=NV12 ! fakesink"
)
declare -A ms
for name in source direct convert; do
  # shellcheck disable=SC2086
  t=$( { /usr/bin/time -f '%U %S %e' gst-launch-1.0 -q ${pipe[$name]} >/dev/null; } 2>&1 | tail -1)
  read -r user sys wall <<<"$t"
  ms[$name]=$(awk -v u="$user" -v s="$sys" -v n="$frames" 'BEGIN { printf "%.2f", 1000 * (u + s) / n }')
  printf '%-8s %4d frames  cpu %6.2f ms/frame  (user %ss sys %ss wall %ss)\n' "$name" "$frames" "${ms[$name]}" \
    "$user" "$sys" "$wall"
done
awk -v s="${ms[source]}" -v d="${ms[direct]}" -v c="${ms[convert]}" 'BEGIN {
  printf "without the source: direct %.2f ms/frame, with videoconvert both ways %.2f ms/frame\n", d - s, c - s }'
