# examples/: small programs, one per everyday job (included by the Makefile).
#
#   make examples         build them into $(B)/examples/
#   make examples-test    build them and run examples/run.sh: each job run
#                         as a user would (several processes where it has
#                         several), its output checked

EXAMPLES := hello producer consumer worker_pool named_producer backpressure \
	zerocopy monitor fanout accounts priorities pingpong
EXAMPLE_BIN := $(EXAMPLES:%=$(B)/examples/%)

.PHONY: examples examples-test

examples: $(EXAMPLE_BIN)

$(B)/examples:
	mkdir -p $@

$(EXAMPLE_BIN): $(B)/examples/%: examples/%.c $(STATIC) include/ipcq.h | $(B)/examples
	$(CC) $(CFLAGS) -o $@ $< $(STATIC) $(SANLD) $(LIBS)

examples-test: examples
	examples/run.sh $(B)/examples
