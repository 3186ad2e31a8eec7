"""What the Python test scripts share, without torch or numpy: one line per
check (`ok WHAT` or `FAIL WHAT: DETAIL`), a count of the failures, the end of
a script (exit 1 after "N check(s) failed", else "all checks passed") and a
command-line tool run with its output captured.

On PYTHONPATH for the scripts meson runs (tests/torch: tests/meson.build's
test_env and the tool tests of tools/meson.build); tests/text/test_tool_prompts.py
puts tests/torch on sys.path itself."""
import subprocess
import sys

failures = 0


def fail(what):
    """Prints `FAIL WHAT` and counts it."""
    global failures
    failures += 1
    print("FAIL " + what)


def check(what, ok, detail=""):
    """Prints `ok WHAT`, or `FAIL WHAT: DETAIL` and counts it; returns ok."""
    if ok:
        print("ok " + what)
    else:
        fail(what + (f": {detail}" if detail else ""))
    return ok


def finish(failed=None):
    """The end of a test script: exit status 1 if a check failed. failed: a
    count kept elsewhere (tc_ctypes.failures) instead of this module's."""
    failed = failures if failed is None else failed
    if failed:
        print(f"{failed} check(s) failed")
        sys.exit(1)
    print("all checks passed")


def run(tool, *args, timeout=120):
    """Runs tool with args (str() of each), stdout and stderr captured as text."""
    return subprocess.run([tool, *map(str, args)], capture_output=True, text=True, timeout=timeout)
