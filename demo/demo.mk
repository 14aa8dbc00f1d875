# demo/: the pipeline demo (included by the Makefile).
#
#   make demo                          the demo as fast as it goes (a few seconds)
#   make demo ARGS="--duration 60"     its orders spread over a minute, to watch
#                                      with ipcq-stat (the demo prints the command)
#   make demo ARGS="--help"            every option

DEMO_SRC := $(sort $(wildcard demo/*.c))
DEMO_OBJ := $(DEMO_SRC:demo/%.c=$(B)/demo/%.o)
ARGS ?=

$(B)/demo:
	mkdir -p $@

$(B)/demo/%.o: demo/%.c demo/demo.h include/ipcq.h | $(B)/demo
	$(CC) $(CFLAGS) -c -o $@ $<

$(DEMO_BIN): $(DEMO_OBJ) $(STATIC) | $(B)
	$(CC) $(CFLAGS) -o $@ $(DEMO_OBJ) $(STATIC) $(SANLD) $(LIBS)

demo: deps
	$(MAKE) --no-print-directory $(DEMO_BIN) tools V=release
	$(DEMO_BIN) $(ARGS)
