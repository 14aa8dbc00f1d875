"""pip install --no-build-isolation ./python: the package, with the
compiled module ipcq._ipcq_cffi (ipcq/_build.py) where it builds.

It is built against the tree's include/ipcq.h and build/release/libipcq.so
(run make first) when the package sits in the source tree, else against an
installed ipcq (the compiler's default paths).  Where it does not build (no
C compiler, no Python.h from python3-dev, no libipcq.so), the package is
installed without it and runs in cffi's ABI mode.  pyproject.toml holds the
metadata."""

import os
import subprocess
import sys

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "ipcq"))
import _build  # noqa: E402  (ipcq/_build.py, before ipcq can be imported)


def _tree(*parts):
    path = os.path.join(HERE, "..", *parts)
    return path if os.path.exists(path) else None


class BuildWithModule(build_py):
    def run(self):
        super().run()
        include = _tree("include", "ipcq.h") and _tree("include")
        libdir = _tree("build", "release", "libipcq.so") and _tree("build", "release")
        try:
            _build.build(os.path.join(self.build_lib, "ipcq"), include, libdir)
        except (OSError, subprocess.CalledProcessError) as e:
            print("ipcq: no compiled module (%s); the package runs in cffi's ABI mode" % e)


class MaybeBinary(Distribution):
    """A wheel with the compiled module is one for this platform."""

    def has_ext_modules(self):
        return True


setup(cmdclass={"build_py": BuildWithModule}, distclass=MaybeBinary)
