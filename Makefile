# SPDX-License-Identifier: Apache-2.0
# cvisor build: libcvisor (shared + static), the cvisor CLI, and the test runner.
#   make            build everything into $(BUILD)
#   make test       build and run the test suite (every platform test on every usable backend)
#   make asan       the same suite built with AddressSanitizer + UBSan, in build-asan/
#   make install    install library, headers, pkg-config file and CLI under $(DESTDIR)$(PREFIX)
#   make examples   build examples/ against the *installed* library through pkg-config

CC      ?= cc
PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
BINDIR  ?= $(PREFIX)/bin
PCDIR   ?= $(LIBDIR)/pkgconfig
BUILD   ?= build
SONAME  := libcvisor.so.0
VERSION := 0.1.0

WARN    := -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
           -Wno-unused-parameter -Wvla
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 $(WARN) -D_GNU_SOURCE -fno-strict-aliasing
ifeq ($(WERROR),1)
CFLAGS  += -Werror
endif
CPPFLAGS += -Iinclude -Isrc -DPROGS_DIR='"$(BUILD)/progs"' -DBUILD_DIR='"$(BUILD)"'
LIBS    := -lZydis -lpthread
SAN     ?=

LIB_SRC  := $(filter-out src/systrap/stub/%,$(sort $(wildcard src/*/*.c src/*/*/*.c)))
LIB_ASM  := $(filter-out src/systrap/stub/%,$(sort $(wildcard src/*/*.S src/*/*/*.S)))
LIB_OBJ  := $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRC)) $(patsubst %.S,$(BUILD)/%.o,$(LIB_ASM))
TEST_SRC := $(sort $(wildcard tests/*.c))
TEST_ASM := $(sort $(wildcard tests/*.S))
SENTRY_SRC := $(sort $(wildcard sentry/*.c sentry/*/*.c))
TEST_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(TEST_SRC) $(SENTRY_SRC)) $(patsubst %.S,$(BUILD)/%.o,$(TEST_ASM))
TOOL_SRC := $(sort $(wildcard tools/*.c sentry/*.c sentry/*/*.c))
TOOL_ASM := $(sort $(wildcard tools/*.S))
TOOL_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(TOOL_SRC)) $(patsubst %.S,$(BUILD)/%.o,$(TOOL_ASM))
VDSO_OBJ := $(BUILD)/sentry/vdso/image.o
TEST_OBJ += $(VDSO_OBJ)
TOOL_OBJ += $(VDSO_OBJ)
HDRS     := $(wildcard include/cvisor/*.h src/*.h src/*/*.h src/*/*/*.h tests/*.h tools/*.h sentry/*.h sentry/*/*.h)

PROGS    := $(patsubst tests/progs/%.c,$(BUILD)/progs/%,$(sort $(wildcard tests/progs/*.c)))

all: $(BUILD)/libcvisor.a $(BUILD)/$(SONAME) $(BUILD)/cvisor $(BUILD)/run_tests $(PROGS) $(BUILD)/progs/ttyjobs.py

# Drives terminal job control through a pty (tests/test_run.c); beside the guest programs.
$(BUILD)/progs/ttyjobs.py: tests/ttyjobs.py
	@mkdir -p $(dir $@)
	cp $< $@

# Guest programs the sentry tests run: plain builds, never sanitized (they run inside the sandbox);
# their debug info names sources relative to the checkout (gdb finds them, from a copy too).
$(BUILD)/progs/%: tests/progs/%.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -fdebug-prefix-map=$(CURDIR)=. -std=gnu11 -Wall -Wextra -pthread -o $@ $<

$(BUILD)/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SAN) -fPIC -fvisibility=hidden -c $< -o $@

$(BUILD)/%.o: %.S
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -fPIC -c $< -o $@

# The systrap stub: freestanding, general registers only, linked into one flat position-independent
# blob that src/systrap/blob.S embeds. Never sanitized: it runs inside stub processes.
STUB_CFLAGS := -O2 -std=gnu11 $(WARN) -ffreestanding -fno-builtin -fpie -fno-plt -fno-stack-protector \
           -fno-asynchronous-unwind-tables -fno-unwind-tables -fcf-protection=none -mgeneral-regs-only \
           -fno-jump-tables -fvisibility=hidden -fno-common
ifeq ($(WERROR),1)
STUB_CFLAGS += -Werror
endif
STUB_SRC := $(sort $(wildcard src/systrap/stub/*.c src/systrap/stub/*.S))
STUB_OBJ := $(patsubst %,$(BUILD)/%.stub.o,$(STUB_SRC))

$(BUILD)/src/systrap/stub/%.stub.o: src/systrap/stub/% src/systrap/layout.h
	@mkdir -p $(dir $@)
	$(CC) $(STUB_CFLAGS) -c $< -o $@

$(BUILD)/systrap_stub.bin: $(STUB_OBJ) src/systrap/stub/stub.lds
	$(CC) -nostdlib -static -Wl,--build-id=none -Wl,-T,src/systrap/stub/stub.lds -o $(BUILD)/systrap_stub.elf $(STUB_OBJ)
	objcopy -O binary -j .text $(BUILD)/systrap_stub.elf $@

$(BUILD)/src/systrap/blob.o: src/systrap/blob.S $(BUILD)/systrap_stub.bin
	@mkdir -p $(dir $@)
	$(CC) -DSTUB_BIN='"$(BUILD)/systrap_stub.bin"' -c $< -o $@

# The sentry's vDSO (sentry/vdso/dso/): freestanding, position-independent, one read+execute segment,
# never sanitized (it runs in the application); it must need no relocation, which is checked here.
VDSO_CFLAGS := -O2 -std=gnu11 $(WARN) -ffreestanding -fno-builtin -fPIC -fno-stack-protector -fno-plt \
           -fcf-protection=none -mgeneral-regs-only -fno-jump-tables -fvisibility=hidden -fno-common
ifeq ($(WERROR),1)
VDSO_CFLAGS += -Werror
endif
$(BUILD)/vdso.so: sentry/vdso/dso/vdso.c sentry/vdso/dso/vdso.lds sentry/vdso/dso/vdso.map sentry/vdso/vvar.h sentry/vdso/vread.h
	@mkdir -p $(dir $@)
	$(CC) $(VDSO_CFLAGS) -nostdlib -shared -Wl,-soname,linux-vdso.so.1 -Wl,--hash-style=both \
		-Wl,--version-script=sentry/vdso/dso/vdso.map -Wl,-T,sentry/vdso/dso/vdso.lds -Wl,--no-undefined \
		-Wl,-Bsymbolic -Wl,--build-id=none -Wl,-z,max-page-size=4096 -Wl,--eh-frame-hdr -o $@.tmp $<
	@if readelf -rW $@.tmp | grep -q "^ *[0-9a-f]\{8,\} "; then echo "$@: the vDSO has relocations"; exit 1; fi
	@if readelf -lW $@.tmp | grep -q "LOAD.* RW"; then echo "$@: the vDSO has a writable segment"; exit 1; fi
	mv $@.tmp $@

$(VDSO_OBJ): sentry/vdso/image.S $(BUILD)/vdso.so
	@mkdir -p $(dir $@)
	$(CC) -DVDSO_SO='"$(BUILD)/vdso.so"' -c $< -o $@

$(BUILD)/libcvisor.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/$(SONAME): $(LIB_OBJ) src/libcvisor.map
	$(CC) $(CFLAGS) $(SAN) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=src/libcvisor.map \
		-o $@ $(LIB_OBJ) $(LIBS)
	ln -sf $(SONAME) $(BUILD)/libcvisor.so

# The CLI's OCI runtime reads config.json with jansson (Debian: libjansson-dev).
JSON_CFLAGS := $(shell pkg-config --cflags jansson)
JSON_LIBS   := $(shell pkg-config --libs jansson)
$(BUILD)/tools/%.o: CPPFLAGS += $(JSON_CFLAGS)

$(BUILD)/cvisor: $(TOOL_OBJ) $(BUILD)/libcvisor.a
	$(CC) $(CFLAGS) $(SAN) -o $@ $(TOOL_OBJ) $(BUILD)/libcvisor.a $(LIBS) $(JSON_LIBS)

$(BUILD)/run_tests: $(TEST_OBJ) $(BUILD)/libcvisor.a
	$(CC) $(CFLAGS) $(SAN) -o $@ $(TEST_OBJ) $(BUILD)/libcvisor.a $(LIBS)

test: all
	$(BUILD)/run_tests $(TESTARGS)

asan:
	$(MAKE) BUILD=build-asan SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" all
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		build-asan/run_tests $(TESTARGS)

install: all
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCDIR)/cvisor $(DESTDIR)$(BINDIR) $(DESTDIR)$(PCDIR)
	install -m 644 $(BUILD)/libcvisor.a $(DESTDIR)$(LIBDIR)/
	install -m 755 $(BUILD)/$(SONAME) $(DESTDIR)$(LIBDIR)/
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libcvisor.so
	install -m 644 include/cvisor/*.h $(DESTDIR)$(INCDIR)/cvisor/
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@INCDIR@|$(INCDIR)|; s|@VERSION@|$(VERSION)|' \
		cvisor.pc.in > $(DESTDIR)$(PCDIR)/cvisor.pc
	install -m 755 $(BUILD)/cvisor $(DESTDIR)$(BINDIR)/
	-ldconfig 2>/dev/null

examples:
	$(MAKE) -C examples

clean:
	rm -rf build build-asan
	$(MAKE) -C examples clean 2>/dev/null || true

.PHONY: all test asan install examples clean
