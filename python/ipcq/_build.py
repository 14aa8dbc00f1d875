"""Build ipcq._ipcq_cffi, the binding's compiled backend: cffi's API mode,
out of line, from the declarations of _cdef.py and the real ipcq.h.

    python3 python/ipcq/_build.py OUTDIR [-I INCLUDEDIR] [-L LIBDIR]

writes OUTDIR/_ipcq_cffi<EXT_SUFFIX> (.cpython-311-x86_64-linux-gnu.so on
Debian 12).  It needs cffi, Python.h (python3-dev) and a C compiler ($CC,
else cc), nothing else: the C source cffi emits is compiled and linked by
one command, against libipcq.so in LIBDIR (-lipcq, so a missing symbol
fails here and not at import).  No rpath is recorded: the package loads
library_path() itself before it imports the module, and the dynamic
linker then takes that library for the module's libipcq.so.0 by its soname.

make python-build builds it into build/release/python/ipcq; setup.py
builds it into the package when pip installs ipcq, and installs the
package without it (ABI mode) when this fails.
"""

import os
import shlex
import subprocess
import sys
import sysconfig
import tempfile

import cffi

HERE = os.path.dirname(os.path.abspath(__file__))
MODULE = "_ipcq_cffi"


def _cdef():
    # By path: this file runs as a script, and from setup.py before the
    # package can be imported.
    scope = {}
    with open(os.path.join(HERE, "_cdef.py")) as f:
        exec(compile(f.read(), f.name, "exec"), scope)
    return scope["CDEF"]


def ffibuilder():
    """The cffi builder of ipcq._ipcq_cffi."""
    ffi = cffi.FFI()
    ffi.cdef(_cdef())
    ffi.set_source("ipcq." + MODULE, '#include "ipcq.h"')
    return ffi


def target(outdir):
    """The path of the module build() writes into outdir."""
    return os.path.join(outdir, MODULE + sysconfig.get_config_var("EXT_SUFFIX"))


def build(outdir, include=None, libdir=None, cc=None, verbose=False):
    """Compile ipcq._ipcq_cffi into outdir and return its path.  include:
    the directory of ipcq.h; libdir: that of libipcq.so (both None: the
    compiler's default paths).  Raises OSError or CalledProcessError."""
    os.makedirs(outdir, exist_ok=True)
    out = target(outdir)
    cc = shlex.split(cc or os.environ.get("CC") or "cc")
    with tempfile.TemporaryDirectory(prefix="ipcq-cffi.") as tmp:
        src = os.path.join(tmp, MODULE + ".c")
        ffibuilder().emit_c_code(src)
        cmd = cc + ["-shared", "-fPIC", "-O2", "-g", "-fwrapv", "-fno-strict-aliasing",
                    "-I" + sysconfig.get_paths()["include"]]
        if include:
            cmd.append("-I" + include)
        cmd += ["-o", out + ".tmp", src]
        if libdir:
            cmd.append("-L" + libdir)
        cmd.append("-lipcq")
        if verbose:
            print(" ".join(shlex.quote(c) for c in cmd))
        try:
            subprocess.run(cmd, check=True)
        except BaseException:
            if os.path.exists(out + ".tmp"):
                os.unlink(out + ".tmp")
            raise
    os.replace(out + ".tmp", out)
    return out


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("-I", dest="include", help="the directory of ipcq.h")
    ap.add_argument("-L", dest="libdir", help="the directory of libipcq.so")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    try:
        build(args.outdir, args.include, args.libdir, verbose=args.verbose)
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit("_build.py: %s" % e)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
