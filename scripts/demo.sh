#!/usr/bin/env bash
# The main job: a GStreamer pipeline with the tokenclip heatmap overlay, end
# to end, writing PNG frames a person can look at.
#
#   bash scripts/demo.sh [--model CLIP.safetensors (--head HEAD.safetensors | --object WORDS)]
#                        [--input VIDEO] [--frames N] [--out DIR] [-- tokenclip properties...]
#
# With your own CLIP weights (e.g. Hugging Face openai/clip-vit-base-patch16,
# model.safetensors) and a head file, or an object's name for zero-shot
# subspaces from CLIP's text tower, the map is real. Without them a small
# RANDOM model and head are generated, and the map means nothing: it only
# shows that the pipeline runs. The input is a video file if given, else
# GStreamer's test pattern.
set -euo pipefail
cd "$(dirname "$0")/.."

model="${TOKENCLIP_MODEL:-}" head="${TOKENCLIP_HEAD:-}" object="" input="" frames=30 out="demo-out"
extra=()
need() { [ $# -ge 2 ] || { echo "demo: $1 needs a value (see --help)" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
  case "$1" in
    --model|--head|--object|--input|--frames|--out) need "$@" ;;
  esac
  case "$1" in
    --model) model="$2"; shift 2 ;;
    --head) head="$2"; shift 2 ;;
    --object) object="$2"; shift 2 ;;
    --input) input="$2"; shift 2 ;;
    --frames) frames="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "demo: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

case "$frames" in
  ''|*[!0-9]*|0) echo "demo: --frames $frames: a positive number of frames" >&2; exit 2 ;;
esac
# half a model is a mistake, not a wish for the random one
if [ -n "$model" ] && [ -z "$head" ] && [ -z "$object" ]; then
  echo "demo: --model needs --head HEAD.safetensors or --object WORDS" >&2; exit 2
fi
if [ -z "$model" ] && { [ -n "$head" ] || [ -n "$object" ]; }; then
  echo "demo: --head and --object need --model CLIP.safetensors" >&2; exit 2
fi
[ -z "$input" ] || [ -f "$input" ] || { echo "demo: --input $input: no such file" >&2; exit 2; }

bash scripts/setup.sh >/dev/null

if [ -z "$model" ]; then
  object=""
  model="build/demo/random-clip/model.safetensors" head="build/demo/random-head.safetensors"
  if [ ! -f "$model" ] || [ ! -f "$head" ]; then
    mkdir -p build/demo
    # a tiny random CLIP with ViT-B/16's 14 x 14 token grid, and 4 random subspaces
    /usr/bin/python3 tests/torch/clip_fixtures.py --config tiny --patch 16 --pretrain-size 224 \
      --forward-dtype none --seed 7 --out build/demo/random-clip >/dev/null
    /usr/bin/python3 tests/torch/random_head.py "$head" --seed 7
  fi
  cat >&2 <<'EOF'

  ************************************************************************
  *  NO MODEL GIVEN: running a small RANDOM model and head.              *
  *  The heatmap below is MEANINGLESS; it only shows the pipeline runs.  *
  *  For a real map:  bash scripts/demo.sh --model clip.safetensors \    *
  *                       --head head.safetensors   (see README.md)      *
  ************************************************************************

EOF
fi

if [ -n "$input" ]; then
  # the first N frames of the file (identity ends the stream after them)
  src="filesrc location=\"$input\" ! decodebin ! videoscale ! identity eos-after=$frames"
else
  # NV12, as cameras and decoders give frames: tokenclip reads and blends it without videoconvert
  src="videotestsrc pattern=smpte num-buffers=$frames ! video/x-raw,format=NV12,width=640,height=480,framerate=30/1"
fi

if [ -n "$object" ]; then subspaces="object=\"$object\""; else subspaces="head=\"$head\""; fi
rm -rf "$out" && mkdir -p "$out"
export GST_PLUGIN_PATH="$PWD/build/gst-plugin${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
# videoconvert only for pngenc, which writes RGB
pipeline="$src ! \
  tokenclip name=tc model=\"$model\" $subspaces ${extra[*]:-} ! \
  videoconvert ! pngenc ! multifilesink location=\"$out/frame-%04d.png\" max-files=$frames"
echo "demo: gst-launch-1.0 $pipeline" | tr -s ' '
# -m prints the element's per-frame messages; keep the scores (gst-launch
# joins its arguments into one description, so quoted paths keep their spaces)
rc=0
gst-launch-1.0 -m $pipeline > "$out/gst-launch.log" 2>&1 || rc=$?
grep -o 'image-score=(double)[0-9.e-]*\|inference-ms=(double)[0-9.]*' "$out/gst-launch.log" | paste - - | head -n 5 || true
# a property gst-launch could not set (out of range, refused) is a warning in the log
grep -i 'WARNING' "$out/gst-launch.log" | grep -v '^Got message' | head -n 5 >&2 || true
if [ "$rc" -ne 0 ] || grep -q '^ERROR' "$out/gst-launch.log"; then
  grep '^ERROR' "$out/gst-launch.log" | head -n 3 >&2 || true
  echo "demo: the pipeline failed, see $out/gst-launch.log" >&2
  exit 1
fi
n=$(ls "$out"/frame-*.png 2>/dev/null | wc -l)
echo "demo: $n frames with the heatmap overlay in $out/ (per-frame scores in $out/gst-launch.log)"
[ "$n" -gt 0 ]
