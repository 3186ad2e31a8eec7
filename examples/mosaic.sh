#!/usr/bin/env bash
# Many streams through one model into a mosaic: N moving test patterns (or N
# video files), each through tokenclip, all sharing one loaded model
# (model-instance-id) whose encoder runs their frames in batches, composed
# side by side in a window (or counted by fakesink with --headless).
#   examples/mosaic.sh MODEL HEAD [N=4] [--headless]
#   examples/mosaic.sh MODEL HEAD FILE... [--headless]
set -euo pipefail
model=${1:?usage: $0 MODEL HEAD [N | FILE...] [--headless]} head=${2:?head file}
shift 2
headless=0 files=() n=4
for a in "$@"; do
  case $a in
    --headless) headless=1 ;;
    *[!0-9]*) files+=("$a") ;;
    *) n=$a ;;
  esac
done
[ ${#files[@]} -gt 0 ] && n=${#files[@]}
cols=1; while [ $((cols * cols)) -lt "$n" ]; do cols=$((cols + 1)); done
batch=$((n < 8 ? n : 8))
export GST_PLUGIN_PATH="$(cd "$(dirname "$0")/.." && pwd)/build/gst-plugin${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"

mix="compositor name=mosaic"
branches=""
for ((i = 0; i < n; i++)); do
  mix+=" sink_$i::xpos=$((i % cols * 320)) sink_$i::ypos=$((i / cols * 240))"
  if [ ${#files[@]} -gt 0 ]; then
    src="filesrc location=${files[$i]} ! decodebin ! videoscale ! video/x-raw,width=320,height=240"
  else
    src="videotestsrc is-live=true pattern=$(((i * 7) % 25)) ! video/x-raw,format=NV12,width=320,height=240,framerate=30/1"
  fi
  # async: every stream keeps its own rate; the shared model batches the frames it is given
  branches+=" $src ! tokenclip name=stream$i model-instance-id=mosaic batch-size=$batch mode=async"
  branches+=" model=$model head=$head ! queue ! mosaic.sink_$i"
done
if [ "$headless" = 1 ]; then sink="fakesink"; else sink="videoconvert ! autovideosink"; fi
# shellcheck disable=SC2086
exec gst-launch-1.0 $mix ! $sink $branches
