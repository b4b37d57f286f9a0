# terminus-load: load generator, chaos runner and invariant checker (src/load/*.c), linked with
# the core library (database, errors, log, JSON validation, invariants) and with libcurl for its
# multi interface; it sees no HTTP-layer or API header. Included by the Makefile.
LOAD_SRC := $(wildcard src/load/*.c)
LOAD_OBJ := $(LOAD_SRC:src/%.c=$(BUILD)/obj/src/%.o)
BINS     += $(BIN)/terminus-load

$(BUILD)/obj/src/load/%.o: src/load/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(INC_CORE) -Isrc/load $(shell pkg-config --cflags libcurl) -c $< -o $@

$(BIN)/terminus-load: $(LOAD_OBJ) $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs libcurl)
