#!/usr/bin/env bash
# meson test --wrapper of scripts/asan.sh: runs one test under the sanitizers.
# Our C programs: ASan's runtime first, then a dlclose that unloads nothing
# (so a leak inside the Vulkan driver keeps the driver's name after
# vkDestroyInstance and tests/asan/lsan.supp can name it), leaks checked.
# Python tests: ASan's runtime first too (they load the instrumented
# libtokenclip-testing.so), but no leak check: the interpreter, numpy and
# torch keep memory at exit, and their stacks are too short to suppress by
# name; the C tools they start inherit that, and are checked for memory
# errors and undefined behaviour, not leaks.
case "$(basename "$1")" in
  python*)
    export LD_PRELOAD="$TC_ASAN_RUNTIME" ASAN_OPTIONS=detect_leaks=0 ;;
  *)
    export LD_PRELOAD="$TC_ASAN_RUNTIME $TC_ASAN_NODLCLOSE" ASAN_OPTIONS=detect_leaks=1 ;;
esac
exec "$@"
