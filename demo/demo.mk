# demo/: the pipeline demo (included by the Makefile).

$(DEMO_BIN): demo/pipeline.c $(STATIC) | $(B)
	$(CC) $(CFLAGS) -o $@ $< $(STATIC) $(SANLD) $(LIBS)

demo: deps
	$(MAKE) --no-print-directory $(DEMO_BIN) tools V=release
	$(DEMO_BIN)
