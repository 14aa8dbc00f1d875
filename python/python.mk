# python/: the Python binding, package ipcq on cffi (included by the Makefile).
#
#   make python           build the compiled module ipcq._ipcq_cffi (cffi's
#                         API mode, python/ipcq/_build.py) into
#                         build/release/python/ipcq, which the package in
#                         the tree imports; without it, ABI mode
#   make python-test      pytest over python/tests against the release
#                         library (build/release/libipcq.so.0, or $(B) when
#                         B is given) and the compiled module built with it
#   make bench-python     Python to Python beside multiprocessing.Queue and
#                         a pipe, at 64 B and 64 KiB (never part of make test)
#   make install-python   copy the package to $(pythondir) (default
#                         $(prefix)/lib/python3/dist-packages, on Debian's
#                         python3 path for /usr and /usr/local), with the
#                         compiled module where it builds; DESTDIR= for
#                         staging.  pip users: pip install
#                         --no-build-isolation ./python (python/setup.py)
#
# Everything runs Debian's /usr/bin/python3 with Debian's python3-cffi,
# python3-dev (Python.h, for the compiled module), python3-pytest and
# python3-numpy: nothing comes from a package index.

PYTHON ?= /usr/bin/python3
EXTRA_DEB_PKGS += python3-cffi python3-dev python3-pytest python3-numpy
TEST_EXTRA += python-test

# Where the release library and the test programs are: $(B) when B is
# given on the command line, else build/release (never an ASan build: a
# python3 that is not linked with ASan cannot load one).
PY_B := $(if $(filter command line,$(origin B)),$(B),build/release)
# The compiled module's file name ends in Python's EXT_SUFFIX
# (.cpython-311-x86_64-linux-gnu.so); make asks only when a recipe needs it.
PY_EXT = $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
PY_MODULE = python/ipcq/_ipcq_cffi$(PY_EXT)
PY_ENV = PYTHONPATH=$(CURDIR)/python PYTHONDONTWRITEBYTECODE=1 \
	IPCQ_LIBRARY=$(abspath $(PY_B))/libipcq.so.0 IPCQ_PEER=$(abspath $(PY_B))/python/peer \
	IPCQ_CFFI_MODULE=$(abspath $(PY_B))/$(PY_MODULE) \
	IPCQ_CC="$(CC)" IPCQ_INCLUDE=$(CURDIR)/include

.PHONY: python python-module python-test python-build bench-python install-python \
	uninstall-python

$(B)/python:
	mkdir -p $@

$(B)/python/peer: python/tests/peer.c tests/testutil.h $(STATIC) | $(B)/python
	$(CC) $(CFLAGS) -Itests -o $@ $< $(STATIC) $(SANLD) $(LIBS)

# Linked with -lipcq against this build's libipcq.so, without an rpath (the
# package loads the library before it imports the module).
python-module: $(SHARED) $(B)/libipcq.so
	@$(MAKE) --no-print-directory $(B)/$(PY_MODULE)

$(B)/python/ipcq/_ipcq_cffi%: python/ipcq/_build.py python/ipcq/_cdef.py include/ipcq.h \
		$(SHARED) | $(B)/python
	CC="$(CC)" $(PYTHON) python/ipcq/_build.py -I include -L $(B) $(@D)

python: python-build

python-build:
	$(MAKE) --no-print-directory lib python-module $(PY_B)/python/peer \
		$(PY_B)/examples/producer V=release

python-test: python-build
	$(PY_ENV) $(PYTHON) -m pytest -q -p no:cacheprovider python/tests

bench-python: python-build
	$(PY_ENV) $(PYTHON) python/bench.py $(BENCH_PY_ARGS)

pythondir ?= $(prefix)/lib/python3/dist-packages
PY_FILES := $(wildcard python/ipcq/*.py)

# The compiled module is built against the tree's header and release
# library (make first) or, failing those, an installed ipcq; where it does
# not build (no compiler, no python3-dev), the package goes without it and
# runs in ABI mode.
install-python:
	install -d $(DESTDIR)$(pythondir)/ipcq
	install -m 0644 $(PY_FILES) $(DESTDIR)$(pythondir)/ipcq/
	CC="$(CC)" $(PYTHON) python/ipcq/_build.py -I include -L $(PY_B) \
		$(DESTDIR)$(pythondir)/ipcq || \
		echo "install-python: no compiled module; the package runs in cffi's ABI mode"

uninstall-python:
	rm -f $(PY_FILES:python/%=$(DESTDIR)$(pythondir)/%) \
		$(DESTDIR)$(pythondir)/ipcq/_ipcq_cffi.*.so
	rmdir $(DESTDIR)$(pythondir)/ipcq 2>/dev/null || true
