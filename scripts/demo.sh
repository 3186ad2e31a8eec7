#!/usr/bin/env bash
# The main job of the README: a pipeline with the anomaly heatmap overlay.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "demo: the tokenclip element arrives with issue 6; until then this runs the kernel benchmark."
./build/tools/tokenclip-bench
