#!/usr/bin/env bash
# A video file in, the same video with the heatmap out (MP4 with x264enc,
# gstreamer1.0-plugins-ugly, or openh264enc, gstreamer1.0-plugins-bad; else
# PNG frames).
#   examples/file.sh MODEL.safetensors HEAD.safetensors IN.mp4 OUT.mp4 [inference-interval]
set -euo pipefail
model=${1:?usage: $0 MODEL HEAD IN OUT [interval]} head=${2:?} in=${3:?} out=${4:?} interval=${5:-1}
export GST_PLUGIN_PATH="$(cd "$(dirname "$0")/.." && pwd)/build/gst-plugin${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
if gst-inspect-1.0 x264enc >/dev/null 2>&1; then
  encode="x264enc ! mp4mux ! filesink location=$out"  # takes the decoder's NV12 / I420 as they are
elif gst-inspect-1.0 openh264enc >/dev/null 2>&1; then
  encode="videoconvert ! openh264enc ! h264parse ! mp4mux ! filesink location=$out"  # I420 only
else
  echo "no H.264 encoder installed: writing PNG frames to ${out%.*}-%05d.png" >&2
  encode="videoconvert ! pngenc ! multifilesink location=${out%.*}-%05d.png"
fi
# sync mode: every analysed frame gets its own map (offline, nothing is live)
# the decoder's NV12 or I420 straight into tokenclip
exec gst-launch-1.0 -e filesrc location="$in" ! decodebin ! \
  tokenclip model="$model" head="$head" inference-interval="$interval" ! $encode
