# cxx/: the C++17 header include/ipcq.hpp, its test, bench and example
# (included by the Makefile).
#
#   make cxx-test     build cxx/t_cxx.cc (-std=c++17 and the project's
#                     warnings, -Werror) against the ASan+UBSan library
#                     (CXX_TEST_V=asan; CXX_TEST_V=release for the other)
#                     and run it, with the C++ worker example beside a C
#                     producer
#   make bench-cxx    the wrapper against the same C calls, one run, in
#                     build/release (never part of make test)
#   make install      installs ipcq.hpp beside ipcq.h (install-cxx)

TEST_EXTRA += cxx-test
CXX_TEST_V ?= asan
# Where cxx-test builds: $(B) when B is given on the command line.
CXX_B := $(if $(filter command line,$(origin B)),$(B),build/$(CXX_TEST_V))

# The C flags of the variant, as C++17: -std and the C-only warnings
# swapped, and -Wshadow for -Wshadow=local: in C++ the global form reports
# that ipcq.h's functions ipcq_info() and ipcq_stats() hide the structures
# of the same names, which C code refers to as struct ipcq_info.
CXX17FLAGS = $(filter-out -std=c11 -Wstrict-prototypes -Wmissing-prototypes -Wshadow,$(CFLAGS)) \
	-std=c++17 -Wshadow=local
CXX_HDR := include/ipcq.hpp include/ipcq.h

.PHONY: cxx-test bench-cxx install-cxx uninstall-cxx

$(B)/cxx:
	mkdir -p $@

$(B)/cxx/t_cxx: cxx/t_cxx.cc $(CXX_HDR) tests/testutil.h $(STATIC) | $(B)/cxx
	$(CXX) $(CXX17FLAGS) -Itests -o $@ $< $(STATIC) $(SANLD) $(LIBS)

$(B)/cxx/bench_cxx: cxx/bench_cxx.cc $(CXX_HDR) $(STATIC) | $(B)/cxx
	$(CXX) $(CXX17FLAGS) -o $@ $< $(STATIC) $(LIBS)

$(B)/cxx/cxx_worker: examples/cxx_worker.cc $(CXX_HDR) $(STATIC) | $(B)/cxx
	$(CXX) $(CXX17FLAGS) -o $@ $< $(STATIC) $(SANLD) $(LIBS)

cxx-test:
	$(MAKE) --no-print-directory V=$(CXX_TEST_V) $(CXX_B)/cxx/t_cxx \
		$(CXX_B)/cxx/cxx_worker $(CXX_B)/examples/producer
	timeout 120 $(CXX_B)/cxx/t_cxx
	cxx/worker_check.sh $(CXX_B)

CXX_BENCH_B := $(if $(filter command line,$(origin B)),$(B),build/release)
bench-cxx:
	$(MAKE) --no-print-directory V=release $(CXX_BENCH_B)/cxx/bench_cxx
	$(CXX_BENCH_B)/cxx/bench_cxx $(BENCH_CXX_ARGS)

install: install-cxx
uninstall: uninstall-cxx

install-cxx:
	install -d $(DESTDIR)$(includedir)
	install -m 0644 include/ipcq.hpp $(DESTDIR)$(includedir)/ipcq.hpp

uninstall-cxx:
	rm -f $(DESTDIR)$(includedir)/ipcq.hpp
