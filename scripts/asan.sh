#!/usr/bin/env bash
# The C tests (and the C tools the Python tests drive) under AddressSanitizer,
# UndefinedBehaviorSanitizer and LeakSanitizer, in build-asan/. Not part of
# the README's test command (it takes several minutes more); run it now and
# then, and after changing anything that allocates.
#
#   bash scripts/asan.sh [SUITE...]     # default: every suite but fuzz (always under ASan) and slow
#
# tests/asan/wrap.sh runs each test: the ASan runtime preloaded (Python must
# load it first to take our instrumented library), leaks checked in our C
# programs, with the libraries that keep memory for the life of the process
# suppressed by name (tests/asan/lsan.supp).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d build-asan ]; then
  meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false
fi
# The build runs our tools to write fixtures: no leak report there.
ASAN_OPTIONS=detect_leaks=0 ninja -C build-asan

# for tests/asan/wrap.sh, found once here rather than per test
export TC_ASAN_RUNTIME="$(cc -print-file-name=libasan.so)"
export TC_ASAN_NODLCLOSE="$PWD/build-asan/nodlclose.so"
cc -shared -fPIC -o "$TC_ASAN_NODLCLOSE" tests/asan/nodlclose.c

# The default test setup already leaves out slow; fuzz replays under ASan anyway.
args=(--no-suite fuzz)
for s in "$@"; do args+=(--suite "$s"); done

export CI=true
export LSAN_OPTIONS="suppressions=$PWD/tests/asan/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# Plugins load in this process, under the sanitizers, not in gst-plugin-scanner.
export GST_REGISTRY_FORK=no
meson test -C build-asan --print-errorlogs --timeout-multiplier 6 --wrapper "$PWD/tests/asan/wrap.sh" "${args[@]}"
