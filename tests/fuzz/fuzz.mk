# fuzz.mk - builds the libFuzzer targets into build/fuzz/ (driven by tests/fuzz/run).
#
# Every module source (analyzer/, rules/, pooler/ and the generated rule
# registry) is compiled again with clang and -fsanitize=fuzzer-no-link, so
# coverage guides the fuzzer into the modules and AddressSanitizer checks
# their memory accesses, not only the target files. The gcc-built libraries in
# build/ are not used here. Run from the repository root:
#   make -f tests/fuzz/fuzz.mk -j2
# build/rules_registry.c must exist (the main Makefile generates it).

include config.mk

FZ := build/fuzz
FUZZ_CC ?= clang
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer
FUZZ_WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wno-unused-parameter
FUZZ_CFLAGS := -std=gnu11 -D_GNU_SOURCE -O1 -g $(FUZZ_SAN) $(FUZZ_WARN) -I. -Ibuild \
	$(DEP_CFLAGS) -MMD -MP

# Module sources: warnings are reported but do not stop the fuzz build (the
# main build enforces -Werror with gcc; clang may warn differently).
MOD_SRC := $(sort $(wildcard analyzer/*.c rules/*.c pooler/*.c)) build/rules_registry.c
MOD_OBJ := $(MOD_SRC:%.c=$(FZ)/obj/%.o)
FUZZ_LIB := $(FZ)/libpgscope-fuzz.a

TARGET_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
TARGET_BIN := $(TARGET_SRC:tests/fuzz/%.c=$(FZ)/%)

.PHONY: all
all: $(TARGET_BIN)

$(FZ)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_LIB): $(MOD_OBJ)
	@rm -f $@
	ar rcs $@ $^

# Targets themselves must compile cleanly.
$(FZ)/tgt/%.o: tests/fuzz/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Werror -fsanitize=fuzzer-no-link -c $< -o $@

$(FZ)/%: $(FZ)/tgt/%.o $(FUZZ_LIB)
	$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $< $(FUZZ_LIB) $(DEP_LIBS)

-include $(MOD_OBJ:.o=.d) $(TARGET_SRC:tests/fuzz/%.c=$(FZ)/tgt/%.d)
