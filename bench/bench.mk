# bench/: ipcq beside its peers (included by the Makefile).
#
# $(B)/bench/transports is built from bench/transports/: driver.c (options,
# cases, table, ratios), transport.h (the interface) and one file per
# transport; the peers that are found (DPDK, Boost) are compiled in, the
# others report n/a.  Every other bench/<name>.c is a program of its own
# (the Makefile's $(B)/bench/% rule).

BENCH_SRC := $(sort $(wildcard bench/*.c))
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(B)/bench/%) $(B)/bench/transports
BENCH_DEB_PKGS := libboost-dev libdpdk-dev libck-dev gnuplot-nox
BENCH_DPDK_CFLAGS := $(shell pkg-config --cflags libdpdk 2>/dev/null)
BENCH_HAVE_BOOST := $(wildcard /usr/include/boost/interprocess/ipc/message_queue.hpp)
BENCH_PEER_CFLAGS := $(if $(BENCH_DPDK_CFLAGS),-DBENCH_HAVE_DPDK $(BENCH_DPDK_CFLAGS)) \
	$(if $(BENCH_HAVE_BOOST),-DBENCH_HAVE_BOOST)
BENCH_PEER_LIBS := $(if $(BENCH_HAVE_BOOST),-lstdc++ -lrt) \
	$(if $(BENCH_DPDK_CFLAGS),-lrte_ring -lrte_eal)
CXX_WARN := $(filter-out -Wstrict-prototypes -Wmissing-prototypes,$(WARN))

BENCH_TR_OBJDIR := $(B)/bench/obj/transports
BENCH_TR_SRC := $(sort $(wildcard bench/transports/*.c))
BENCH_TR_OBJ := $(BENCH_TR_SRC:bench/transports/%.c=$(BENCH_TR_OBJDIR)/%.o)
BENCH_TR_HDR := bench/transports/transport.h bench/benchutil.h include/ipcq.h
BENCH_BOOST_OBJ := $(if $(BENCH_HAVE_BOOST),$(BENCH_TR_OBJDIR)/boost_mq_cc.o)
# The flags the objects were compiled with: rewritten when they change (a
# peer installed or removed), so that every object is compiled again.
BENCH_TR_FLAGS := $(BENCH_TR_OBJDIR)/flags

$(BENCH_TR_OBJDIR):
	mkdir -p $@

.PHONY: bench-flags-check
bench-flags-check:

$(BENCH_TR_FLAGS): bench-flags-check | $(BENCH_TR_OBJDIR)
	@printf '%s\n' '$(CC) $(CFLAGS) $(BENCH_PEER_CFLAGS)' | cmp -s - $@ || \
		printf '%s\n' '$(CC) $(CFLAGS) $(BENCH_PEER_CFLAGS)' > $@

$(BENCH_TR_OBJDIR)/%.o: bench/transports/%.c $(BENCH_TR_HDR) $(BENCH_TR_FLAGS) \
		| $(BENCH_TR_OBJDIR)
	$(CC) $(CFLAGS) $(BENCH_PEER_CFLAGS) -c -o $@ $<

$(BENCH_TR_OBJDIR)/boost_mq.o: bench/transports/boost_mq.h

$(BENCH_TR_OBJDIR)/boost_mq_cc.o: bench/transports/boost_mq.cc bench/transports/boost_mq.h \
		$(BENCH_TR_FLAGS) | $(BENCH_TR_OBJDIR)
	$(CXX) -std=c++11 $(filter-out -std=c11 $(WARN),$(CFLAGS)) $(CXX_WARN) -c -o $@ $<

$(B)/bench/transports: $(BENCH_TR_OBJ) $(BENCH_BOOST_OBJ) $(STATIC) | $(B)/bench
	$(CC) $(CFLAGS) -o $@ $(BENCH_TR_OBJ) $(BENCH_BOOST_OBJ) $(STATIC) $(SANLD) \
		$(LIBS) $(BENCH_PEER_LIBS) -lm

bench-deps: deps
	@./.ci/deps.sh $(BENCH_DEB_PKGS)

# The programs are built with V=release, in $(B) when B is given on the
# command line, else in build/release.
BENCH_DIR := $(if $(filter command line,$(origin B)),$(B),build/release)/bench

bench: deps bench-deps
	$(MAKE) --no-print-directory $(BENCH_BIN) V=release
	bench/run.sh $(BENCH_DIR)

# make bench-fanout: one producer fanned out to consumer groups beside N
# queues and a hand-written broadcast ring (bench/fanout.c, about a
# minute); BENCH_FANOUT_ARGS go to it (--help lists them).
BENCH_FANOUT_ARGS ?=
.PHONY: bench-fanout
bench-fanout: deps
	$(MAKE) --no-print-directory $(BENCH_DIR)/fanout V=release
	$(BENCH_DIR)/fanout $(BENCH_FANOUT_ARGS)
$(B)/bench/fanout: bench/transports/transport.h
