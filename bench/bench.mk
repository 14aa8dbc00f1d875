# bench/: ipcq beside its peers (included by the Makefile).

BENCH_SRC := $(sort $(wildcard bench/*.c))
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(B)/bench/%)
BENCH_DEB_PKGS := libboost-dev libdpdk-dev libck-dev gnuplot-nox
BENCH_DPDK_CFLAGS := $(shell pkg-config --cflags libdpdk 2>/dev/null)
BENCH_HAVE_BOOST := $(wildcard /usr/include/boost/interprocess/ipc/message_queue.hpp)
BENCH_PEER_CFLAGS := $(if $(BENCH_DPDK_CFLAGS),-DBENCH_HAVE_DPDK $(BENCH_DPDK_CFLAGS)) \
	$(if $(BENCH_HAVE_BOOST),-DBENCH_HAVE_BOOST)
BENCH_BOOST_OBJ := $(if $(BENCH_HAVE_BOOST),$(B)/bench/boost_mq.o)
BENCH_PEER_LIBS := $(if $(BENCH_HAVE_BOOST),-lstdc++ -lrt) \
	$(if $(BENCH_DPDK_CFLAGS),-lrte_ring -lrte_eal)
CXX_WARN := $(filter-out -Wstrict-prototypes -Wmissing-prototypes,$(WARN))

$(B)/bench/boost_mq.o: bench/boost_mq.cc bench/boost_mq.h | $(B)/bench
	$(CXX) -std=c++11 $(filter-out -std=c11 $(WARN),$(CFLAGS)) $(CXX_WARN) -c -o $@ $<

$(B)/bench/transports: bench/transports.c $(STATIC) bench/benchutil.h bench/boost_mq.h \
		$(BENCH_BOOST_OBJ) | $(B)/bench
	$(CC) $(CFLAGS) $(BENCH_PEER_CFLAGS) -o $@ $< $(STATIC) $(BENCH_BOOST_OBJ) $(SANLD) \
		$(LIBS) $(BENCH_PEER_LIBS) -lm

bench-deps: deps
	@./.ci/deps.sh $(BENCH_DEB_PKGS)

bench: deps bench-deps
	$(MAKE) --no-print-directory $(BENCH_BIN) V=release
	bench/run.sh build/release/bench
