#!/usr/bin/env bash
# The test command of the README: set up, build, run every test on the
# Vulkan device (lavapipe on a machine without a GPU) with validation on.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Without a GPU driver the loader finds lavapipe; a user may point elsewhere.
meson test -C build --print-errorlogs "$@"
