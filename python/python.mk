# python/: the Python binding, package ipcq on cffi (included by the Makefile).
#
#   make python-test      pytest over python/tests against the release
#                         library (build/release/libipcq.so.0, or $(B) when
#                         B is given): the binding loads it with ffi.dlopen
#   make bench-python     Python to Python beside multiprocessing.Queue and
#                         a pipe, at 64 B and 64 KiB (never part of make test)
#   make install-python   copy the package to $(pythondir) (default
#                         $(prefix)/lib/python3/dist-packages, on Debian's
#                         python3 path for /usr and /usr/local); DESTDIR=
#                         for staging.  pip users: pip install
#                         --no-build-isolation ./python (python/pyproject.toml)
#
# Everything runs Debian's /usr/bin/python3 with Debian's python3-cffi,
# python3-pytest and python3-numpy: nothing comes from a package index.

PYTHON ?= /usr/bin/python3
EXTRA_DEB_PKGS += python3-cffi python3-pytest python3-numpy
TEST_EXTRA += python-test

# Where the release library and the test programs are: $(B) when B is
# given on the command line, else build/release (never an ASan build: a
# python3 that is not linked with ASan cannot load one).
PY_B := $(if $(filter command line,$(origin B)),$(B),build/release)
PY_ENV = PYTHONPATH=$(CURDIR)/python PYTHONDONTWRITEBYTECODE=1 \
	IPCQ_LIBRARY=$(abspath $(PY_B))/libipcq.so.0 IPCQ_PEER=$(abspath $(PY_B))/python/peer \
	IPCQ_CC="$(CC)" IPCQ_INCLUDE=$(CURDIR)/include

.PHONY: python-test python-build bench-python install-python uninstall-python

$(B)/python:
	mkdir -p $@

$(B)/python/peer: python/tests/peer.c tests/testutil.h $(STATIC) | $(B)/python
	$(CC) $(CFLAGS) -Itests -o $@ $< $(STATIC) $(SANLD) $(LIBS)

python-build:
	$(MAKE) --no-print-directory lib $(PY_B)/python/peer $(PY_B)/examples/producer V=release

python-test: python-build
	$(PY_ENV) $(PYTHON) -m pytest -q -p no:cacheprovider python/tests

bench-python: python-build
	$(PY_ENV) $(PYTHON) python/bench.py $(BENCH_PY_ARGS)

pythondir ?= $(prefix)/lib/python3/dist-packages
PY_FILES := $(wildcard python/ipcq/*.py)

install-python:
	install -d $(DESTDIR)$(pythondir)/ipcq
	install -m 0644 $(PY_FILES) $(DESTDIR)$(pythondir)/ipcq/

uninstall-python:
	rm -f $(PY_FILES:python/%=$(DESTDIR)$(pythondir)/%)
	rmdir $(DESTDIR)$(pythondir)/ipcq 2>/dev/null || true
