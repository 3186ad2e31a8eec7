#!/usr/bin/env bash
# A V4L2 camera with the heatmap, live: async mode, so the video keeps the
# camera's rate whatever the model costs; the map follows as fast as it can.
#   examples/camera.sh MODEL.safetensors HEAD.safetensors [/dev/video0]
set -euo pipefail
model=${1:?usage: $0 MODEL HEAD [device]} head=${2:?} dev=${3:-/dev/video0}
export GST_PLUGIN_PATH="$(cd "$(dirname "$0")/.." && pwd)/build/gst-plugin${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
# the camera's own YUY2 or NV12 straight in and out: no videoconvert
exec gst-launch-1.0 v4l2src device="$dev" ! \
  tokenclip model="$model" head="$head" mode=async threshold=0.6 ! \
  autovideosink sync=false
