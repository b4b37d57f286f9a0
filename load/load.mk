# terminus-load: load generator, chaos runner and invariant checker (load/*.c), linked with the
# core library for db/err/log/jsonv and with libcurl for its multi interface. Included by the
# Makefile right after BINS is defined.
LOAD_SRC := $(wildcard load/*.c)
LOAD_OBJ := $(LOAD_SRC:load/%.c=$(BUILD)/obj/load/%.o)
BINS     += $(BIN)/terminus-load

$(BUILD)/obj/load/%.o: load/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(shell pkg-config --cflags libcurl) -c $< -o $@

$(BIN)/terminus-load: $(LOAD_OBJ) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs libcurl)
