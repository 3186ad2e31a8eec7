"""libtokenclip as an application gets it: `meson install` into a temporary
DESTDIR, then, against that prefix alone (PKG_CONFIG_PATH):

- the public header compiles on its own, in C99 and in C++, warnings as errors;
- examples/tokenclip-scores.c builds with `pkg-config --cflags --libs
  tokenclip` (no flag may point into the source or build tree) and runs on
  the tiny model from the installed library, analysing frames;
- the installed library exports exactly the functions tokenclip.h marks
  TC_API: no internals (the references, the encoder, the kernels) leak.

usage: test_install.py MESON BUILD_DIR PREFIX LIBDIR INCLUDEDIR EXAMPLE.c TOKENCLIP.h MODEL HEAD FRAMES"""
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

from tc_testutil import check, finish


def run(cmd, env=None, timeout=300):
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)


def declared_api(header):
    """The function names tokenclip.h marks TC_API."""
    text = re.sub(r"/\*.*?\*/", "", open(header).read(), flags=re.S)
    return set(re.findall(r"\bTC_API\b[^;(]*?\b(tc_\w+)\s*\(", text))


def exported(lib):
    r = run(["nm", "-D", "--defined-only", lib])
    return {line.split()[-1] for line in r.stdout.splitlines() if line.split() and line.split()[1] in "TtWw"}


def checks(meson, build, prefix, libdir, includedir, example, header, model, head, frames, dest):
    source_root = os.path.dirname(os.path.dirname(os.path.abspath(example)))
    r = run([meson, "install", "-C", build, "--no-rebuild", "--destdir", dest, "--quiet"])
    if not check("meson install into a DESTDIR", r.returncode == 0, r.stderr[-2000:]):
        return
    root = dest + prefix
    libpath = libdir if os.path.isabs(libdir) else os.path.join(root, libdir)
    incpath = includedir if os.path.isabs(includedir) else os.path.join(root, includedir)
    check("tokenclip/tokenclip.h installed", os.path.exists(os.path.join(incpath, "tokenclip", "tokenclip.h")))
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(libpath, "pkgconfig"))
    r = run(["pkg-config", f"--define-variable=prefix={root}", "--cflags", "--libs", "tokenclip"], env=env)
    if not check("pkg-config --cflags --libs tokenclip", r.returncode == 0, r.stderr):
        return
    flags = shlex.split(r.stdout)
    outside = [f for f in flags if source_root in f or os.path.abspath(build) in f]
    check("the flags point into the installation only", not outside and any(root in f for f in flags), flags)

    cc = os.environ.get("CC", "cc")
    tmp = os.path.join(dest, "work")
    os.makedirs(tmp)
    alone = os.path.join(tmp, "alone.c")
    open(alone, "w").write("#include <tokenclip/tokenclip.h>\nint main(void) { return tc_status_name(TC_OK) == 0; }\n")
    r = run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", alone, "-o", os.path.join(tmp, "alone"),
             *flags])
    check("the header alone, C99, -Wall -Wextra -Werror -pedantic", r.returncode == 0, r.stderr)
    cxx = shutil.which(os.environ.get("CXX", "c++"))
    if cxx:
        r = run([cxx, "-x", "c++", "-fsyntax-only", "-Wall", "-Wextra", "-Werror", alone, *flags])
        check("the header alone, C++", r.returncode == 0, r.stderr)

    exe = os.path.join(tmp, "tokenclip-scores")
    r = run([cc, "-std=c11", "-Wall", "-Wextra", "-Werror", example, "-o", exe, *flags])
    if check("examples/tokenclip-scores.c builds with the pkg-config flags alone", r.returncode == 0, r.stderr):
        run_env = dict(os.environ, LD_LIBRARY_PATH=libpath)
        r = run(["ldd", exe], env=run_env)
        check("it links the installed library", os.path.join(libpath, "libtokenclip.so") in r.stdout, r.stdout)
        r = run([exe, model, head, frames], env=run_env)
        m = re.search(r"(\d+) frames analysed", r.stdout)
        check("it runs and analyses frames", r.returncode == 0 and m and int(m.group(1)) > 0,
              f"rc {r.returncode}: {r.stdout[-500:]} {r.stderr[-1000:]}")

    lib = os.path.join(libpath, "libtokenclip.so")
    want, got = declared_api(header), exported(lib)
    check(f"the library exports the {len(want)} functions tokenclip.h declares", want <= got, sorted(want - got))
    check("and nothing else", got <= want, sorted(got - want)[:20])


def main():
    if len(sys.argv) != 11:
        sys.exit(__doc__)
    with tempfile.TemporaryDirectory(prefix="tc-test-install-") as dest:
        checks(*sys.argv[1:], dest)
    finish()


if __name__ == "__main__":
    main()
