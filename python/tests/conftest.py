"""Fixtures of the binding's tests: a unique queue name removed afterwards,
the C peer program, and a helper that runs a Python worker process.

make python-test sets IPCQ_LIBRARY (the release libipcq.so.0), IPCQ_PEER
(python/tests/peer.c built against it), IPCQ_CC and IPCQ_INCLUDE.
"""

import itertools
import os
import subprocess
import sys

import pytest

import ipcq

_counter = itertools.count()
HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture
def qname():
    """A queue name unique to this process and test; removed at the end."""
    name = "t.py.%d.%d" % (os.getpid(), next(_counter))
    yield name
    try:
        ipcq.unlink(name)
    except ipcq.Error:
        pass


@pytest.fixture
def peer():
    """Path of the C peer program (peer.c)."""
    path = os.environ.get("IPCQ_PEER")
    if not path or not os.access(path, os.X_OK):
        pytest.fail("IPCQ_PEER does not name the built peer program: run make python-test")
    return path


def worker(*args, **kw):
    """Start python/tests/worker.py ARGS... in a process of its own, with
    pipes on stdin and stdout (text, line-buffered)."""
    return subprocess.Popen([sys.executable, os.path.join(HERE, "worker.py")] + list(args),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            bufsize=1, **kw)
