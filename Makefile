# ipcq - plain Makefile.
#
#   make            static and shared library, tools
#   make demo       build and run the pipeline demo (ARGS="--duration 60" to watch it)
#   make examples   the short programs of examples/ (make examples-test runs them)
#   make test       install missing packages, build under ASan+UBSan, run every test
#   make layers     check that no file of lib/ calls back into itself (tests/layers.sh)
#   make asan       the same tests, without the install and C++ checks
#   make tsan       build under ThreadSanitizer, run the threaded tests
#   make stress     long tier of the tests
#   make mutate     mutants of lib/ that the tests must kill (tests/mutants/)
#   make bench      benchmarks (never part of test)
#   make icount     instructions per message of the hot path (callgrind)
#   make install    prefix=/usr/local DESTDIR=
#   make deps       install the Debian packages the project needs (as root)
#   make fuzz       libFuzzer on every reader of a segment, FUZZ_TIME seconds
#   make cross-aarch64  the library for AArch64 with Debian's cross compiler

VERSION_MAJOR := 0
VERSION_MINOR := 1
VERSION_PATCH := 0
VERSION := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)

prefix ?= /usr/local
exec_prefix ?= $(prefix)
libdir ?= $(exec_prefix)/lib
includedir ?= $(prefix)/include
bindir ?= $(exec_prefix)/bin
mandir ?= $(prefix)/share/man
DESTDIR ?=

CC ?= cc
CXX ?= c++
# V selects the build variant: release (default), asan, tsan, debug, aarch64
# (cross-compiled, see cross-aarch64).
V ?= release
B := build/$(V)

CFLAGS ?= -O2 -g
WERROR ?= 1
WARN := -Wall -Wextra -Wshadow -Wundef -Wstrict-prototypes -Wmissing-prototypes \
	-Wformat=2 -Wcast-align -Wwrite-strings
ifeq ($(WERROR),1)
WARN += -Werror
endif
override CFLAGS += -std=c11 -D_GNU_SOURCE $(WARN) -Iinclude -pthread
ifeq ($(V),asan)
override CFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer -DIPCQ_DEBUG=1
SANLD := -fsanitize=address,undefined
endif
ifeq ($(V),tsan)
override CFLAGS += -fsanitize=thread -DIPCQ_TSAN=1 -DIPCQ_DEBUG=1
SANLD := -fsanitize=thread
endif
ifeq ($(V),debug)
override CFLAGS += -O0 -DIPCQ_DEBUG=1
endif
# V=fuzz: the library compiled by clang for libFuzzer (make fuzz).  clang's
# -Wcast-align warns on x86-64 too (gcc's only where alignment traps).
FUZZ_CC ?= clang
ifeq ($(V),fuzz)
CC := $(FUZZ_CC)
override CFLAGS += -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer -Wno-cast-align -DIPCQ_DEBUG=1
SANLD := -fsanitize=address,undefined
endif
ifeq ($(V),aarch64)
CROSS := aarch64-linux-gnu-
CC := $(CROSS)gcc
AR := $(CROSS)ar
endif
LIBS := -lurcu-common -lhwloc -lnuma -pthread

LIB_SRC := $(sort $(wildcard lib/*.c))
LIB_OBJ := $(LIB_SRC:lib/%.c=$(B)/lib/%.o)
LIB_HDR := include/ipcq.h $(wildcard lib/*.h)
STATIC := $(B)/libipcq.a
SONAME := libipcq.so.$(VERSION_MAJOR)
SHARED := $(B)/libipcq.so.$(VERSION)

TEST_SRC := $(sort $(wildcard tests/t_*.c))
TEST_BIN := $(TEST_SRC:tests/%.c=$(B)/tests/%)
TEST_COMMON := tests/testutil.h tests/statutil.h tests/holders.h tests/sideutil.h
TOOL_SRC := $(sort $(wildcard tools/*.c))
TOOL_BIN := $(TOOL_SRC:tools/%.c=$(B)/%)
DEMO_BIN := $(B)/ipcq-demo

.PHONY: all lib tools tests demo test check asan tsan stress bench deps install \
	uninstall clean cxx-check install-check build-tests bench-deps cross-aarch64 cross-deps

all: lib tools

lib: $(STATIC) $(SHARED) $(B)/libipcq.so $(B)/ipcq.pc \
	$(B)/cmake/ipcqConfig.cmake $(B)/cmake/ipcqConfigVersion.cmake

$(B)/lib/%.o: lib/%.c $(LIB_HDR) | $(B)/lib
	$(CC) $(CFLAGS) -fPIC -fvisibility=hidden -DIPCQ_BUILDING_LIBRARY -c -o $@ $<

$(STATIC): $(LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(SHARED): $(LIB_OBJ) lib/libipcq.map
	$(CC) $(CFLAGS) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=lib/libipcq.map \
		-Wl,-z,defs -o $@ $(LIB_OBJ) $(SANLD) $(LIBS)

$(B)/libipcq.so: $(SHARED)
	ln -sf libipcq.so.$(VERSION) $(B)/$(SONAME)
	ln -sf $(SONAME) $@

# ipcq.pc and the CMake package name the install directories, so they are
# remade whenever those change: $(B)/install-dirs holds the values they were
# made with and is rewritten (its time changed) only when they differ, so
# `make test` (prefix=/usr) then `make install prefix=/opt/ipcq` installs
# files that say /opt/ipcq.  In the CMake package a libdir or includedir
# under the prefix is written relative to it (@rel_libdir@), so the package
# finds its prefix from where it lies; in ipcq.pc it is written ${prefix}/...
# (@pc_libdir@), so pkg-config --define-prefix can move it too.
INSTALL_DIRS := prefix=$(prefix) exec_prefix=$(exec_prefix) libdir=$(libdir) includedir=$(includedir)
SUBST_DIRS = sed -e 's|@prefix@|$(prefix)|g' -e 's|@libdir@|$(libdir)|g' \
	-e 's|@includedir@|$(includedir)|g' \
	-e 's|@rel_libdir@|$(patsubst $(prefix)/%,%,$(libdir))|g' \
	-e 's|@rel_includedir@|$(patsubst $(prefix)/%,%,$(includedir))|g' \
	-e 's|@pc_libdir@|$(patsubst $(prefix)/%,$${prefix}/%,$(libdir))|g' \
	-e 's|@pc_includedir@|$(patsubst $(prefix)/%,$${prefix}/%,$(includedir))|g' \
	-e 's|@VERSION@|$(VERSION)|g' -e 's|@VERSION_MAJOR@|$(VERSION_MAJOR)|g'

$(B)/install-dirs: FORCE | $(B)
	@echo '$(INSTALL_DIRS)' | cmp -s - $@ || echo '$(INSTALL_DIRS)' > $@

$(B)/ipcq.pc: ipcq.pc.in $(B)/install-dirs Makefile | $(B)
	$(SUBST_DIRS) $< > $@

$(B)/cmake/%: cmake/%.in $(B)/install-dirs Makefile | $(B)
	mkdir -p $(@D)
	$(SUBST_DIRS) -e "s|@SIZEOF_VOID_P@|$$(echo __SIZEOF_POINTER__ | $(CC) -E -P -x c - | tail -n 1)|g" $< > $@

FORCE:

$(B) $(B)/lib $(B)/tests $(B)/bench:
	mkdir -p $@

tools: $(TOOL_BIN)

$(B)/%: tools/%.c tools/sigbus.h tools/owner.h $(STATIC) include/ipcq.h
	$(CC) $(CFLAGS) -o $@ $< $(STATIC) $(SANLD) $(LIBS)

$(B)/tests/%: tests/%.c $(STATIC) $(TEST_COMMON) | $(B)/tests
	$(CC) $(CFLAGS) -Ilib -o $@ $< $(STATIC) $(SANLD) $(LIBS) -lm

$(B)/bench/%: bench/%.c $(STATIC) bench/benchutil.h | $(B)/bench
	$(CC) $(CFLAGS) -o $@ $< $(STATIC) $(SANLD) $(LIBS) -lm

# The demo, the bench and the examples keep their rules beside their sources.
include demo/demo.mk bench/bench.mk
include examples/examples.mk
# Bindings and the bridge keep their rules beside their sources too; each
# adds its Debian packages to EXTRA_DEB_PKGS and its test target to
# TEST_EXTRA, which make test runs after the C suite.
EXTRA_DEB_PKGS :=
TEST_EXTRA :=
include $(wildcard python/python.mk cxx/cxx.mk tools/bridge/bridge.mk)

build-tests: $(TEST_BIN) $(TOOL_BIN)

# The header must compile as C++ too.
cxx-check: | $(B)
	printf '#include "ipcq.h"\nint main(){ struct ipcq_config c; ipcq_config_init(&c); return c.capacity == 1024 ? 0 : 1; }\n' > $(B)/cxx_check.cc
	$(CXX) -std=c++11 -Wall -Wextra -Werror -Iinclude -fsyntax-only $(B)/cxx_check.cc

# Install into staging directories and build consumers against what was
# installed, as C and as C++: through pkg-config (shared, and static with
# libipcq.a), through CMake's find_package (ipcq::ipcq, ipcq::ipcq_static),
# and as the README says for a custom prefix (pkg-config and an rpath, no
# LD_LIBRARY_PATH).  The same build directory is installed with prefix=/usr
# first, then with ICHECK_PREFIX: the second install must name
# ICHECK_PREFIX in ipcq.pc and be found by CMake from wherever it lies.
# Last, uninstall must leave no file behind.
STAGE = $(abspath $(B)/stage)
ICHECK_PREFIX := /opt/ipcq
ICHECK_ROOT = $(STAGE)/dest$(ICHECK_PREFIX)
ICHECK_PC = PKG_CONFIG_PATH=$(ICHECK_ROOT)/lib/pkgconfig pkg-config
ICHECK_PCR = $(ICHECK_PC) --define-variable=prefix=$(ICHECK_ROOT)
install-check:
	rm -rf $(STAGE)
	mkdir -p $(STAGE)
	$(MAKE) --no-print-directory install V=release DESTDIR=$(STAGE)/usr-dest prefix=/usr >/dev/null
	grep -qx 'prefix=/usr' $(STAGE)/usr-dest/usr/lib/pkgconfig/ipcq.pc
	test -f $(STAGE)/usr-dest/usr/lib/cmake/ipcq/ipcqConfig.cmake
	$(MAKE) --no-print-directory install V=release DESTDIR=$(STAGE)/dest prefix=$(ICHECK_PREFIX) >/dev/null
	grep -qx 'prefix=$(ICHECK_PREFIX)' $(ICHECK_ROOT)/lib/pkgconfig/ipcq.pc
	test "$$($(ICHECK_PC) --variable=prefix ipcq)" = $(ICHECK_PREFIX)
	test "$$($(ICHECK_PC) --variable=libdir ipcq)" = $(ICHECK_PREFIX)/lib
	test "$$($(ICHECK_PC) --variable=includedir ipcq)" = $(ICHECK_PREFIX)/include
	test "$$($(ICHECK_PC) --modversion ipcq)" = $(VERSION)
	test -f $(ICHECK_ROOT)/include/ipcq.h && test -L $(ICHECK_ROOT)/lib/libipcq.so.$(VERSION_MAJOR)
	test -f $(ICHECK_ROOT)/lib/libipcq.a
	test -f $(ICHECK_ROOT)/lib/cmake/ipcq/ipcqConfig.cmake
	test -f $(ICHECK_ROOT)/lib/cmake/ipcq/ipcqConfigVersion.cmake
	test -f $(ICHECK_ROOT)/share/man/man3/ipcq_peek.3 && test -f $(ICHECK_ROOT)/share/man/man7/ipcq.7
	printf '#include <ipcq.h>\n#include <stdio.h>\nint main(void){ printf("ipcq %%s\\n", ipcq_version_string()); return ipcq_version() == IPCQ_VERSION ? 0 : 1; }\n' > $(STAGE)/consumer.c
	cp $(STAGE)/consumer.c $(STAGE)/consumer.cc
	$(CC) -std=c11 -Wall -Wextra -Werror -o $(STAGE)/consumer-c $(STAGE)/consumer.c \
		$$($(ICHECK_PCR) --cflags --libs ipcq)
	$(CXX) -std=c++11 -Wall -Wextra -Werror -o $(STAGE)/consumer-cxx $(STAGE)/consumer.cc \
		$$($(ICHECK_PCR) --cflags --libs ipcq)
	$(CC) -std=c11 -Wall -Wextra -Werror -o $(STAGE)/consumer-static $(STAGE)/consumer.c \
		$$($(ICHECK_PCR) --cflags ipcq) $$($(ICHECK_PCR) --static --libs ipcq | sed 's/-lipcq\>/-l:libipcq.a/')
	LD_LIBRARY_PATH=$(ICHECK_ROOT)/lib $(STAGE)/consumer-c
	LD_LIBRARY_PATH=$(ICHECK_ROOT)/lib $(STAGE)/consumer-cxx
	$(STAGE)/consumer-static
	! readelf -d $(STAGE)/consumer-static | grep -q 'libipcq\.so'
	cmake -S cmake/check -B $(STAGE)/cmake-build -DCMAKE_PREFIX_PATH=$(ICHECK_ROOT) \
		-DCONSUMER_DIR=$(STAGE) -DEXPECT_LIBDIR=$(ICHECK_ROOT)/lib \
		-DCMAKE_C_COMPILER=$(CC) -DCMAKE_CXX_COMPILER=$(CXX) >$(STAGE)/cmake.log || \
		{ cat $(STAGE)/cmake.log; exit 1; }
	cmake --build $(STAGE)/cmake-build >>$(STAGE)/cmake.log || { cat $(STAGE)/cmake.log; exit 1; }
	$(STAGE)/cmake-build/consumer-c && $(STAGE)/cmake-build/consumer-cxx
	$(STAGE)/cmake-build/consumer-static
	! readelf -d $(STAGE)/cmake-build/consumer-static | grep -q 'libipcq\.so'
	$(MAKE) --no-print-directory install V=release prefix=$(STAGE)/prefix LDCONFIG=: >/dev/null
	PKG_CONFIG_PATH=$(STAGE)/prefix/lib/pkgconfig; export PKG_CONFIG_PATH; \
		$(CC) -o $(STAGE)/consumer-rpath $(STAGE)/consumer.c $$(pkg-config --cflags --libs ipcq) \
		-Wl,-rpath,$$(pkg-config --variable=libdir ipcq)
	env -u LD_LIBRARY_PATH $(STAGE)/consumer-rpath
	$(MAKE) --no-print-directory uninstall V=release prefix=$(STAGE)/prefix >/dev/null
	@left=$$(find $(STAGE)/prefix ! -type d); \
		[ -z "$$left" ] || { echo "install-check: uninstall left:"; echo "$$left"; exit 1; }

# ---- tiers ---------------------------------------------------------------

# make test: the tier CI runs.  Installs what is missing, builds everything
# under ASan+UBSan and runs the whole suite with a per-test timeout.
test: deps
	$(MAKE) --no-print-directory cxx-check V=asan
	$(MAKE) --no-print-directory install-check
	$(MAKE) --no-print-directory cross-aarch64
	model/run.sh $(MODEL_QUICK)
	$(MAKE) --no-print-directory build-tests V=asan
	tests/layers.sh build/asan/lib >/dev/null
	tests/mutate.sh --apply-only
	$(MAKE) --no-print-directory examples-test V=asan
	tests/run.sh build/asan/tests
	@for t in $(TEST_EXTRA); do $(MAKE) --no-print-directory $$t || exit 1; done

check: test

# make layers: lib/ has no circle (each file calls only files below it)
.PHONY: layers
layers: lib
	tests/layers.sh $(B)/lib

# make asan: the whole suite under ASan+UBSan (what make test runs, without
# the install and C++ checks).
asan: deps
	$(MAKE) --no-print-directory build-tests V=asan
	tests/run.sh build/asan/tests

tsan: deps
	$(MAKE) --no-print-directory build-tests V=tsan
	IPCQ_TSAN=1 tests/run.sh build/tsan/tests $$(cat tests/TSAN_TESTS)

# make stress: the long tier (1,000+ kills, 100x the restarts, ...), with the
# crash points and sanitizers of the asan build.
stress: deps
	$(MAKE) --no-print-directory build-tests V=asan
	IPCQ_STRESS=1 TEST_TIMEOUT=3600 tests/run.sh build/asan/tests

# make mutate: do the tests fail when lib/ is wrong?  Each mutant of
# tests/mutants/LIST is applied to a scratch copy of the tree (never to
# this one), built V=asan, and run against the tests named for it, a
# minute at most (MUTATE_LIMIT); each must be killed.  MUTANTS="a b" runs
# some only.  Not part of make test, which checks only that every patch
# still applies (tests/mutate.sh --apply-only).
MUTANTS ?=
.PHONY: mutate
mutate: deps
	tests/mutate.sh $(MUTANTS)


# make icount: instructions per message of the hot path, counted by callgrind
# (bench/icount.c, bench/icount.sh; valgrind is installed when missing).
.PHONY: icount
icount: deps
	@./.ci/deps.sh valgrind
	$(MAKE) --no-print-directory build/release/bench/icount V=release
	bench/icount.sh build/release/bench/icount

# ---- the protocol model ------------------------------------------------------

# model/ipcq.pml is the crash-recovery protocol as a SPIN model, checked with
# a crash allowed at every step, model/groups.pml the slot protocol of a
# queue with consumer groups and model/keys.pml per-key order (model/README.md).
# make test runs MODEL_QUICK:
# a safety configuration with two crashes, progress with the concurrent
# recoverer, the three old rules, each of which must fail with a
# counterexample, a durable and a lossy group with crashes, the two old
# rules of groups, a group made during traffic (the floor's generation)
# and the two old rules of that, per-key order with a crash and without
# (wake-ups alone) and its six old rules, and the sole producer and consumer
# (claims by store) with crashes and the two rules without the seat, which
# must fail, the side-ring move record written before its claim, and
# purges and replays of a side entry with and without settling its mover,
# the old rules of which must fail, and an expired message's move record
# cleared before the receive's next claim, and kept (about 13 minutes).  make model-test
# runs the whole
# bounded set (about 20 minutes), make model the large configurations too
# (an hour or more, ~20 GB).
MODEL_QUICK := two-crashes progress-r old1 old2 old3 groups-lossy groups-old-tail groups-old-wordcheck \
	groups-create-newest groups-old-nogen groups-old-noretry \
	keys-order keys-wake keys-old-nog1 keys-old-g2owned keys-old-nok3 keys-old-nolook keys-old-latekh keys-old-stalepark \
	sole-both sole-noseat-producers sole-noseat-consumers side-old-record \
	side-take side-old-take expire-again expire-old-again
.PHONY: model model-test
model: deps
	model/run.sh full
model-test: deps
	model/run.sh

# ---- fuzzing ----------------------------------------------------------------

# make fuzz: libFuzzer on every reader of a segment (tests/fuzz/fuzz_segment.c,
# built with clang: V=fuzz) for FUZZ_TIME seconds, over build/fuzz/corpus, a
# copy of tests/fuzz/corpus that keeps what earlier runs found; crashes and
# hangs land in build/fuzz/artifacts/.  FUZZ_ARGS adds libFuzzer options
# (-jobs=N -workers=N, -dict=...).  make test replays tests/fuzz/corpus
# (tests/t_fuzz_corpus.c, no libFuzzer needed); make fuzz-seeds rewrites its
# seed-* files.
FUZZ_TIME ?= 300
FUZZ_ARGS ?=
FUZZ_DEB_PKGS := clang libclang-rt-14-dev
.PHONY: fuzz fuzz-deps fuzz-seeds

fuzz-deps:
	@./.ci/deps.sh $(FUZZ_DEB_PKGS)

$(B)/fuzz_segment: tests/fuzz/fuzz_segment.c tests/fuzz/fuzz_base.h $(STATIC) | $(B)
	$(CC) $(CFLAGS) -Ilib -fsanitize=fuzzer -o $@ $< $(STATIC) $(SANLD) $(LIBS)

$(B)/mkseeds: tests/fuzz/mkseeds.c tests/fuzz/fuzz_base.h $(STATIC) | $(B)
	$(CC) $(CFLAGS) -o $@ $< $(STATIC) $(SANLD) $(LIBS)

$(B)/tests/t_fuzz_corpus: tests/fuzz/fuzz_segment.c tests/fuzz/fuzz_base.h

fuzz: deps fuzz-deps
	$(MAKE) --no-print-directory build/fuzz/fuzz_segment V=fuzz
	mkdir -p build/fuzz/corpus build/fuzz/artifacts
	cp tests/fuzz/corpus/* build/fuzz/corpus/
	build/fuzz/fuzz_segment -max_total_time=$(FUZZ_TIME) -timeout=10 -max_len=65536 \
		-rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix=build/fuzz/artifacts/ \
		$(FUZZ_ARGS) build/fuzz/corpus

fuzz-seeds: deps
	$(MAKE) --no-print-directory $(B)/mkseeds
	$(B)/mkseeds tests/fuzz/corpus

# ---- packages -------------------------------------------------------------

DEB_PKGS := gcc g++ make pkg-config cmake liburcu-dev libhwloc-dev libnuma-dev tmux spin

deps:
	@./.ci/deps.sh $(DEB_PKGS) $(EXTRA_DEB_PKGS)

# ---- cross build ------------------------------------------------------------

# make cross-aarch64: lib/ compiled for AArch64 (-Werror, the same warnings),
# static and shared library in build/aarch64.  The cross compiler comes from
# Debian; liburcu's headers differ per architecture (urcu/arch.h and
# urcu/uatomic.h pick the AArch64 barriers), so the arm64 -dev packages are
# installed alongside the native ones (multiarch), which also gives the
# shared library the arm64 libraries to link against.  The last step checks
# that the barriers are real: on x86-64 the shim's acquire/release fences are
# compiler barriers only, on AArch64 they must be dmb instructions (liburcu's
# cmm_smp_mb), so a ring object (ring.o, and send.o, recv.o, lease.o, where
# ring.h's hot path is inlined) without a dmb means the shim lost its fences.
CROSS_DEB_PKGS := gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu \
	liburcu-dev:arm64 libhwloc-dev:arm64 libnuma-dev:arm64

cross-deps:
	@dpkg --print-foreign-architectures | grep -qx arm64 || \
		{ [ "$$(id -u)" -eq 0 ] && dpkg --add-architecture arm64; } || \
		{ echo "deps: run as root:  dpkg --add-architecture arm64" >&2; exit 1; }
	@./.ci/deps.sh $(CROSS_DEB_PKGS)

cross-aarch64: cross-deps
	$(MAKE) --no-print-directory lib V=aarch64
	@for o in ring send recv lease; do \
		n=$$(aarch64-linux-gnu-objdump -d build/aarch64/lib/$$o.o | grep -c 'dmb'); \
		echo "cross-aarch64: $$n dmb barriers in $$o.o"; [ "$$n" -gt 0 ] || exit 1; done

# ---- install ----------------------------------------------------------------

# `man ipcq_open` and friends: links to the page that documents them.
MAN3_LINKS := \
	ipcq_open.3:ipcq_create.3 ipcq_open_readonly.3:ipcq_create.3 ipcq_close.3:ipcq_create.3 \
	ipcq_open_flags.3:ipcq_create.3 ipcq_sweep.3:ipcq_create.3 \
	ipcq_unlink.3:ipcq_create.3 ipcq_config_init.3:ipcq_create.3 ipcq_strerror.3:ipcq_create.3 \
	ipcq_errdetail.3:ipcq_create.3 \
	ipcq_version.3:ipcq_create.3 ipcq_version_string.3:ipcq_create.3 \
	ipcq_detach.3:ipcq_attach.3 ipcq_attach_opts_init.3:ipcq_attach.3 \
	ipcq_last_seq.3:ipcq_attach.3 ipcq_dedup_remove.3:ipcq_attach.3 \
	ipcq_send_batch.3:ipcq_send.3 ipcq_send_seq.3:ipcq_send.3 ipcq_recv.3:ipcq_send.3 \
	ipcq_recv_batch.3:ipcq_send.3 ipcq_pressure.3:ipcq_send.3 ipcq_wait_pressure.3:ipcq_send.3 \
	ipcq_commit.3:ipcq_reserve.3 ipcq_peek.3:ipcq_reserve.3 ipcq_release.3:ipcq_reserve.3 \
	ipcq_nack.3:ipcq_ack.3 \
	ipcq_group_remove.3:ipcq_group_create.3 ipcq_group_list.3:ipcq_group_create.3 \
	ipcq_poison_peek.3:ipcq_poison_list.3 ipcq_poison_replay.3:ipcq_poison_list.3 \
	ipcq_poison_purge.3:ipcq_poison_list.3 ipcq_poison_put.3:ipcq_poison_list.3 \
	ipcq_info.3:ipcq_stats.3 ipcq_list.3:ipcq_stats.3 ipcq_numa_node.3:ipcq_stats.3 \
	ipcq_numa_placement.3:ipcq_stats.3 ipcq_pin_thread.3:ipcq_stats.3

# A real install (DESTDIR empty) as root runs ldconfig, so that programs
# find libipcq.so.0 at once; LDCONFIG=: skips it.  Where libdir is not in
# the dynamic linker's search path (a custom prefix) install says so:
# link with -Wl,-rpath,<libdir>, or add libdir to /etc/ld.so.conf.d/.
LDCONFIG ?= ldconfig

install: all
	install -d $(DESTDIR)$(libdir) $(DESTDIR)$(includedir) $(DESTDIR)$(libdir)/pkgconfig \
		$(DESTDIR)$(libdir)/cmake/ipcq \
		$(DESTDIR)$(bindir) $(DESTDIR)$(mandir)/man1 $(DESTDIR)$(mandir)/man3 $(DESTDIR)$(mandir)/man7
	install -m 0644 include/ipcq.h $(DESTDIR)$(includedir)/ipcq.h
	install -m 0644 $(STATIC) $(DESTDIR)$(libdir)/libipcq.a
	install -m 0755 $(SHARED) $(DESTDIR)$(libdir)/libipcq.so.$(VERSION)
	ln -sf libipcq.so.$(VERSION) $(DESTDIR)$(libdir)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(libdir)/libipcq.so
	install -m 0644 $(B)/ipcq.pc $(DESTDIR)$(libdir)/pkgconfig/ipcq.pc
	install -m 0644 $(B)/cmake/ipcqConfig.cmake $(B)/cmake/ipcqConfigVersion.cmake \
		$(DESTDIR)$(libdir)/cmake/ipcq/
	for t in $(TOOL_BIN); do install -m 0755 $$t $(DESTDIR)$(bindir)/; done
	for m in $(wildcard man/*.1); do install -m 0644 $$m $(DESTDIR)$(mandir)/man1/; done
	for m in $(wildcard man/*.3); do install -m 0644 $$m $(DESTDIR)$(mandir)/man3/; done
	for m in $(wildcard man/*.7); do install -m 0644 $$m $(DESTDIR)$(mandir)/man7/; done
	for l in $(MAN3_LINKS); do ln -sf $${l#*:} $(DESTDIR)$(mandir)/man3/$${l%%:*}; done
	@if [ -z "$(DESTDIR)" ]; then \
		if [ "$$(id -u)" -eq 0 ] && command -v $(LDCONFIG) >/dev/null 2>&1; then \
			echo $(LDCONFIG); $(LDCONFIG) || exit 1; \
		fi; \
		$(LDCONFIG) -p 2>/dev/null | grep -qF '=> $(libdir)/$(SONAME)' || \
		echo "install: $(SONAME) is not in the dynamic linker's cache: link with" \
			"-Wl,-rpath,$(libdir), or add $(libdir) to /etc/ld.so.conf.d/ and run ldconfig as root"; \
	fi

uninstall:
	rm -f $(DESTDIR)$(includedir)/ipcq.h $(DESTDIR)$(libdir)/libipcq.a \
		$(DESTDIR)$(libdir)/libipcq.so* $(DESTDIR)$(libdir)/pkgconfig/ipcq.pc \
		$(DESTDIR)$(libdir)/cmake/ipcq/ipcqConfig.cmake \
		$(DESTDIR)$(libdir)/cmake/ipcq/ipcqConfigVersion.cmake
	rmdir $(DESTDIR)$(libdir)/cmake/ipcq 2>/dev/null || true
	for t in $(notdir $(TOOL_BIN)); do rm -f $(DESTDIR)$(bindir)/$$t; done
	for m in $(notdir $(wildcard man/*.1)); do rm -f $(DESTDIR)$(mandir)/man1/$$m; done
	for m in $(notdir $(wildcard man/*.3)); do rm -f $(DESTDIR)$(mandir)/man3/$$m; done
	for m in $(notdir $(wildcard man/*.7)); do rm -f $(DESTDIR)$(mandir)/man7/$$m; done
	for l in $(MAN3_LINKS); do rm -f $(DESTDIR)$(mandir)/man3/$${l%%:*}; done

clean:
	rm -rf build
