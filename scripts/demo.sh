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
while [ $# -gt 0 ]; do
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

bash scripts/setup.sh >/dev/null

if [ -z "$model" ] || { [ -z "$head" ] && [ -z "$object" ]; }; then
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
  src="filesrc location=$input ! decodebin ! videoscale"
else
  # NV12, as cameras and decoders give frames: tokenclip reads and blends it without videoconvert
  src="videotestsrc pattern=smpte num-buffers=$frames ! video/x-raw,format=NV12,width=640,height=480,framerate=30/1"
fi

if [ -n "$object" ]; then subspaces="object=\"$object\""; else subspaces="head=$head"; fi
rm -rf "$out" && mkdir -p "$out"
export GST_PLUGIN_PATH="$PWD/build/gst-plugin${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
# videoconvert only for pngenc, which writes RGB
pipeline="$src ! \
  tokenclip name=tc model=$model $subspaces ${extra[*]:-} ! \
  videoconvert ! pngenc ! multifilesink location=$out/frame-%04d.png max-files=$frames"
echo "demo: gst-launch-1.0 $pipeline" | tr -s ' '
# -m prints the element's per-frame messages; keep the scores
gst-launch-1.0 -m $pipeline 2>&1 | tee "$out/gst-launch.log" |
  grep -o 'image-score=(double)[0-9.e-]*\|inference-ms=(double)[0-9.]*\|ERROR.*' | paste - - | head -n 5
if grep -q '^ERROR' "$out/gst-launch.log"; then
  echo "demo: the pipeline failed, see $out/gst-launch.log" >&2
  exit 1
fi
n=$(ls "$out"/frame-*.png 2>/dev/null | wc -l)
echo "demo: $n frames with the heatmap overlay in $out/ (per-frame scores in $out/gst-launch.log)"
[ "$n" -gt 0 ]
