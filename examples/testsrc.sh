#!/usr/bin/env bash
# The heatmap over GStreamer's test pattern, in a window (or fakesink with --headless).
#   examples/testsrc.sh MODEL.safetensors HEAD.safetensors [--headless]
set -euo pipefail
model=${1:?usage: $0 MODEL.safetensors HEAD.safetensors [--headless]} head=${2:?head file}
sink="autovideosink"
[ "${3:-}" = "--headless" ] && sink="fakesink"
export GST_PLUGIN_PATH="$(cd "$(dirname "$0")/.." && pwd)/build/gst-plugin${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
exec gst-launch-1.0 -m \
  videotestsrc is-live=true pattern=ball ! video/x-raw,format=NV12,width=640,height=480,framerate=30/1 ! \
  tokenclip model="$model" head="$head" mode=async ! $sink
