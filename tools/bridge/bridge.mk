# tools/bridge/: ipcq-bridge, a queue joined to a NATS JetStream stream
# (included by the Makefile).
#
#   make bridge          build $(B)/ipcq-bridge
#   make bridge-test     build it and its tests, run them (make test runs it)
#   make bridge-bench    its throughput at 64 B and 1 KiB over loopback
#
# The NATS C client (libnats-dev, pkg-config libnats) and nats-server come
# from Debian; make deps installs them.  The tests start their own
# nats-server -js on a free loopback port.

EXTRA_DEB_PKGS += libnats-dev nats-server
TEST_EXTRA += bridge-test

BRIDGE_SRC := $(sort $(wildcard tools/bridge/*.c))
BRIDGE_BIN := $(B)/ipcq-bridge
BRIDGE_TEST_SRC := $(sort $(wildcard tools/bridge/tests/t_*.c))
BRIDGE_TEST_BIN := $(BRIDGE_TEST_SRC:tools/bridge/tests/%.c=$(B)/bridge-tests/%)
NATS_CFLAGS = $(shell pkg-config --cflags libnats 2>/dev/null)
NATS_LIBS = $(shell pkg-config --libs libnats 2>/dev/null || echo -lnats)
# The bridge tests run release builds (the kills and the bench need the
# speed); BRIDGE_V=asan runs them under the sanitizers.  They build into
# build/$(BRIDGE_V), or into B when it is given on the command line.
BRIDGE_V ?= release
ifeq ($(origin B),command line)
BRIDGE_B := $(B)
else
BRIDGE_B := build/$(BRIDGE_V)
endif

.PHONY: bridge bridge-test bridge-bench install-bridge uninstall-bridge

bridge: $(BRIDGE_BIN)

$(BRIDGE_BIN): $(BRIDGE_SRC) tools/bridge/bridge.h $(STATIC) include/ipcq.h | $(B)
	$(CC) $(CFLAGS) $(NATS_CFLAGS) -o $@ $(BRIDGE_SRC) $(STATIC) $(SANLD) $(LIBS) $(NATS_LIBS)

$(B)/bridge-tests:
	mkdir -p $@

$(B)/bridge-tests/%: tools/bridge/tests/%.c tools/bridge/tests/bridgetest.h $(TEST_COMMON) \
		$(STATIC) | $(B)/bridge-tests
	$(CC) $(CFLAGS) -Itests $(NATS_CFLAGS) -o $@ $< $(STATIC) $(SANLD) $(LIBS) $(NATS_LIBS) -lm

bridge-test: deps
	$(MAKE) --no-print-directory $(BRIDGE_B)/ipcq-bridge \
		$(BRIDGE_TEST_SRC:tools/bridge/tests/%.c=$(BRIDGE_B)/bridge-tests/%) \
		tools V=$(BRIDGE_V) B=$(BRIDGE_B)
	IPCQ_BRIDGE=$(BRIDGE_B)/ipcq-bridge TEST_TIMEOUT=180 \
		tests/run.sh $(BRIDGE_B)/bridge-tests

# BENCH_N: messages per run (200000); BENCH_ROUNDS: rounds (3).  A release build: build/release, or
# B given on the command line.
ifeq ($(origin B),command line)
BRIDGE_BENCH_B := $(B)
else
BRIDGE_BENCH_B := build/release
endif
bridge-bench: deps
	$(MAKE) --no-print-directory $(BRIDGE_BENCH_B)/ipcq-bridge \
		$(BRIDGE_BENCH_B)/bridge-tests/bench_bridge V=release B=$(BRIDGE_BENCH_B)
	IPCQ_BRIDGE=$(BRIDGE_BENCH_B)/ipcq-bridge $(BRIDGE_BENCH_B)/bridge-tests/bench_bridge

# make install and make uninstall take the bridge along where the NATS
# client is installed (its man page, man/ipcq-bridge.1, goes with the
# other man/*.1).
ifeq ($(shell pkg-config --exists libnats 2>/dev/null && echo 1),1)
install: install-bridge
uninstall: uninstall-bridge
endif

install-bridge: $(BRIDGE_BIN)
	install -d $(DESTDIR)$(bindir)
	install -m 0755 $(BRIDGE_BIN) $(DESTDIR)$(bindir)/ipcq-bridge

uninstall-bridge:
	rm -f $(DESTDIR)$(bindir)/ipcq-bridge
