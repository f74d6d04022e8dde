# digest: plain GNU make. `make` builds ./digest, `make test` runs every test
# under AddressSanitizer and UBSan, `make deps` installs what both need.

CC      ?= cc
CFLAGS  ?= -O2 -g
PKGS    := libcurl libxml-2.0 libconfig sqlite3 gnutls libmicrohttpd libidn2 uchardet libpsl

# Debian packages that building and running need (`make deps`); python3
# writes the table of HTML entities (src/gen_entities.py) and runs the tests.
DEPS := gcc clang make pkg-config python3 libcurl4-gnutls-dev libxml2-dev libconfig-dev \
        libsqlite3-dev libidn2-dev tzdata ca-certificates libetpan-dev libgnutls28-dev libmicrohttpd-dev libuchardet-dev \
        libpsl-dev

# What only the tests and the benchmark need, installed by `make test` and
# `make bench` themselves, never by `make deps`: a browser and an MTA have
# no business on a server that only runs digest. Postfix (for its
# smtp-sink and smtp-source, and as a relay in tests) only where no other
# MTA is installed: one is never replaced; the tests that need it skip.
# Dovecot serves the bounce mailbox of `inbound --fetch` (the tests start
# their own on free loopback ports).
TEST_DEPS := libcmocka-dev valgrind faketime openssl libclang-rt-dev python3-aiosmtpd chromium \
             python3-feedparser wrk dovecot-imapd dovecot-pop3d
TEST_MTA  := postfix
# The DKIM and spam tests: two verifiers that share no code with digest
# (dkimpy, OpenDKIM) and SpamAssassin's local rules; none is an MTA.
TEST_DEPS += python3-dkim opendkim-tools spamassassin
# Installing (tests/integration/install_tests.py): the man pages' linter,
# the package build and its checker, systemd-analyze for the units, and
# seccomp for applying digest-serve.service's sandbox without systemd.
TEST_DEPS += mandoc man-db debhelper dpkg-dev fakeroot lintian systemd python3-seccomp

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libetpan is linked by name: its pkg-config file adds a -specs= flag that
# needs libdpkg-perl.
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -letpan -pthread -lm

# The project's own flags, kept apart from the user's CFLAGS.
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wformat=2 -Wvla
DCFLAGS  = -std=c11 $(WARN) -Iinclude $(PKG_CFLAGS) -MMD -MP
SANFLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# The default templates are compiled in (build/gen/builtin.c) as the
# fallback of a configuration without a templates directory.
TEMPLATES := $(sort $(wildcard templates/*.txt templates/*.html))
# src/main.c and src/cmd/ are the command line; the rest is the library
# that the unit tests and fuzz targets link.
SRCS      := $(wildcard src/*.c src/cmd/*.c) build/gen/builtin.c build/gen/entities.c
LIB_SRCS  := $(filter-out src/main.c src/cmd/%,$(SRCS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)

REL_OBJS  := $(SRCS:%.c=build/rel/%.o)
ASAN_OBJS := $(SRCS:%.c=build/asan/%.o)
ASAN_LIB  := $(LIB_SRCS:%.c=build/asan/%.o)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=build/asan/tests/%)

ifeq ($(V),1)
Q :=
else
Q := @
endif

.PHONY: all deps test-deps test unit docs integration sample demo valgrind fuzz bench bench-archive bench-dkim clean \
        install uninstall
all: digest

digest: $(REL_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

build/gen/builtin.c: $(TEMPLATES) Makefile
	@mkdir -p $(dir $@)
	@echo "  GEN     $@"
	$(Q){ echo '/* Generated from templates/ by the Makefile: do not edit. */'; \
	  echo '#include <string.h>'; echo '#include "digest/builtin.h"'; \
	  echo 'static const struct { const char *name, *text; } files[] = {'; \
	  for f in $(TEMPLATES); do \
	    printf '\t{"%s",\n' "$$(basename $$f)"; \
	    sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/?/\\?/g' -e 's/^/\t "/' -e 's/$$/\\n"/' $$f; \
	    printf '\t},\n'; \
	  done; \
	  echo '};'; \
	  echo 'const char *builtin_template(const char *name, size_t *len)'; echo '{'; \
	  echo '	for (size_t i = 0; i < sizeof files / sizeof *files; i++)'; \
	  echo '		if (!strcmp(files[i].name, name)) {'; \
	  echo '			*len = strlen(files[i].text);'; \
	  echo '			return files[i].text;'; \
	  echo '		}'; \
	  echo '	return NULL;'; echo '}'; } > $@.tmp && mv $@.tmp $@

# HTML's named character references (src/entity.c), from Debian's Python.
build/gen/entities.c: src/gen_entities.py
	@mkdir -p $(dir $@)
	@echo "  GEN     $@"
	$(Q)/usr/bin/python3 src/gen_entities.py > $@.tmp && mv $@.tmp $@

build/rel/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(DCFLAGS) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

build/asan/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC+SAN  $<"
	$(Q)$(CC) $(DCFLAGS) $(SANFLAGS) -c -o $@ $<

build/asan/digest: $(ASAN_OBJS)
	@echo "  LD+SAN  $@"
	$(Q)$(CC) $(SANFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# Unit tests link against an archive: each pulls in only the modules it uses.
build/asan/libdigest.a: $(ASAN_LIB)
	$(Q)rm -f $@ && ar rcs $@ $^

build/asan/tests/%: build/asan/tests/unit/%.o build/asan/libdigest.a
	@mkdir -p $(dir $@)
	@echo "  LD+SAN  $@"
	$(Q)$(CC) $(SANFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka

# Every unit and integration test, sanitized; ends with "N passed, M failed".
# The test tools first (test-deps), then the build.
test: test-deps
	$(Q)$(MAKE) --no-print-directory build/asan/digest $(UNIT_BINS)
	$(Q)tests/run.sh build/asan/digest $(UNIT_BINS)

unit: $(UNIT_BINS)
	$(Q)tests/run.sh --unit-only build/asan/digest $(UNIT_BINS)

# README.md's and digest.conf(5)'s tables of keys, rewritten between their
# markers from the one table of keys (src/config_table.c); the unit test
# test_config_doc fails while they differ from it.
docs: build/asan/tests/test_config_doc
	$(Q)build/asan/tests/test_config_doc --write

# The sample site, generated around the current date, that digest.conf reads.
sample:
	$(Q)/usr/bin/python3 tests/fixtures/gen_site.py var/sample-site

# The quick start: build, make the sample site, and run the whole daily job
# into the Maildir of digest.conf; then a preview to open in a browser.
demo: digest sample
	./digest -c digest.conf subscribers import tests/fixtures/sample-subscribers.txt
	./digest -c digest.conf run
	./digest -c digest.conf preview --no-fetch -o var/preview.html
	./digest -c digest.conf status
	@echo
	@echo "Messages: var/outbox/new/ (a Maildir). The edition in a browser: var/preview.html"
	@echo "The subscribe page: ./digest serve, then http://127.0.0.1:8080/"

valgrind: digest sample
	valgrind --error-exitcode=1 --leak-check=full --show-leak-kinds=definite,indirect \
		--errors-for-leak-kinds=definite,indirect ./digest -q -c digest.conf collect >/dev/null
	valgrind --error-exitcode=1 --leak-check=full --show-leak-kinds=definite,indirect \
		--errors-for-leak-kinds=definite,indirect ./digest -q -c digest.conf preview --format eml >/dev/null

# Coverage-guided fuzzing of every parser of outside input (clang's
# libFuzzer, with ASan and UBSan); FUZZ_SECONDS each. Not part of `make test`.
FUZZ_SECONDS ?= 60
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))

build/fuzz/%: tests/fuzz/%.c $(LIB_SRCS) $(wildcard include/digest/*.h)
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	$(Q)clang -std=c11 $(WARN) -Iinclude $(PKG_CFLAGS) $(FUZZ_FLAGS) -o $@ $< $(LIB_SRCS) $(PKG_LIBS)

fuzz: $(FUZZ_TARGETS)
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p build/fuzz/corpus-$$(basename $$t); \
		echo "fuzzing $$t for $(FUZZ_SECONDS) s"; \
		$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
			-artifact_prefix=build/fuzz/ -print_final_stats=1 \
			build/fuzz/corpus-$$(basename $$t) 2>&1 | grep -E "^stat::|^==|SUMMARY|ERROR" || true; \
		test -z "$$(ls build/fuzz/crash-* build/fuzz/leak-* build/fuzz/timeout-* build/fuzz/oom-* 2>/dev/null)" || \
			{ echo "fuzz: inputs that failed are in build/fuzz/"; exit 1; }; \
	done

# install_missing: the packages of $(1) that are not installed (apt-get,
# with sudo unless root), saying $(2); Postfix preseeded "No configuration"
# and its daemon stopped: only its programs are wanted.
define install_missing
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
		grep -q '^install ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then echo "$(2): all installed"; exit 0; fi; \
	sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	echo "$(2): installing$$missing" | tr '\n' ' '; echo; \
	postfix=; case " $$(echo $$missing) " in *" postfix "*) postfix=1; \
		echo "postfix postfix/main_mailer_type select No configuration" | \
			$$sudo debconf-set-selections;; esac; \
	$$sudo apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing && \
	if [ -n "$$postfix" ] && pgrep -x master >/dev/null; then \
		echo "$(2): stopping the Postfix daemon that the install started"; $$sudo postfix stop; fi
endef

# The MTA for the tests, only when none is installed: one that is, is kept.
TEST_MTA_WANTED = $(shell dpkg-query -W -f='$${Status}\n' postfix 2>/dev/null | \
	grep -q '^install ok installed' || [ -e /usr/sbin/sendmail ] || echo $(TEST_MTA))

deps:
	$(call install_missing,$(DEPS),deps)

test-deps:
	$(call install_missing,$(TEST_DEPS) $(TEST_MTA_WANTED),test-deps)

# The benchmark (tests/bench/README.md): sending against Postfix's smtp-sink,
# collecting, personalizing. Not part of `make test`; takes a few minutes.
# BENCH_ARGS: e.g. --quick, or --runs 5.
BENCH_ARGS ?=
build/bench/personalize: tests/bench/personalize.c $(filter-out build/rel/src/main.o build/rel/src/cmd/%,$(REL_OBJS))
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) -std=c11 $(WARN) -Iinclude $(PKG_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

build/bench/dkim_sign: tests/bench/dkim_sign.c $(filter-out build/rel/src/main.o build/rel/src/cmd/%,$(REL_OBJS))
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) -std=c11 $(WARN) -Iinclude $(PKG_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# DKIM's cost (tests/bench/README.md): no DKIM, Ed25519 and RSA-2048 side
# by side, and one signature alone. Also run by `make bench`.
bench-dkim: test-deps
	$(Q)$(MAKE) --no-print-directory digest build/bench/personalize build/bench/rusage build/bench/dkim_sign
	$(Q)/usr/bin/python3 tests/bench/bench_dkim.py $(BENCH_ARGS)

build/bench/rusage: tests/bench/rusage.c
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) -std=c11 $(WARN) $(CFLAGS) $(LDFLAGS) -o $@ $<

bench: test-deps
	$(Q)$(MAKE) --no-print-directory digest build/bench/personalize build/bench/rusage build/bench/dkim_sign
	$(Q)/usr/bin/python3 tests/bench/bench.py $(BENCH_ARGS)
	$(Q)/usr/bin/python3 tests/bench/bench_dkim.py $(BENCH_ARGS)
	$(Q)/usr/bin/python3 tests/bench/bench_archive.py

# The archive's alone (also the end of `make bench`): req/s of /archive/DATE
# over keep-alive, RSS after 20,000 requests (tests/bench/README.md).
bench-archive: test-deps
	$(Q)$(MAKE) --no-print-directory digest
	$(Q)/usr/bin/python3 tests/bench/bench_archive.py

# Installing (README "Installing"). The directories below may each be set;
# DESTDIR is prepended to every one (staged installs, packages). The files
# of dist/ name them through @BINDIR@-style placeholders; the man pages and
# the crontab example name the defaults (/usr/local/..., /var/lib/digest),
# rewritten to the chosen directories as they are installed. An installed
# digest needs nothing from the source tree: its templates are compiled in
# (the copies in DATADIR/digest/templates are for editing).
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
LIBEXECDIR  ?= $(PREFIX)/libexec
DATADIR     ?= $(PREFIX)/share
MANDIR      ?= $(DATADIR)/man
SYSCONFDIR  ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
STATEDIR    ?= /var/lib/digest
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
UNITS := digest-serve.service digest-run.service digest-run.timer digest-collect.service digest-collect.timer

# Placeholders and defaults to the chosen directories; @SANDBOX@ becomes
# dist/sandbox.inc, the sandbox every unit shares.
INSTALL_SED = sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@LIBEXECDIR@|$(LIBEXECDIR)|g' \
	-e 's|@DATADIR@|$(DATADIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@STATEDIR@|$(STATEDIR)|g' \
	-e 's|/usr/local/bin/digest|$(BINDIR)/digest|g' -e 's|/usr/local/libexec/digest|$(LIBEXECDIR)/digest|g' \
	-e 's|/usr/local/share/digest|$(DATADIR)/digest|g' -e 's|/usr/local/etc/digest|$(SYSCONFDIR)/digest|g' \
	-e 's|/var/lib/digest|$(STATEDIR)|g' -e '/^@SANDBOX@$$/{r dist/sandbox.inc' -e 'd' -e '}'

# install_sed: file $(1) through INSTALL_SED to $(2), quietly unless V=1.
define install_sed
	@echo "  INSTALL $(2)"
	$(Q)$(INSTALL_SED) $(1) > $(2)
endef

install: digest
	$(Q)install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR)/digest $(DESTDIR)$(DATADIR)/digest/templates \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(SYSCONFDIR)/digest \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR)
	@echo "  INSTALL $(DESTDIR)$(BINDIR)/digest"
	$(Q)install -m 0755 digest $(DESTDIR)$(BINDIR)/digest
	@echo "  INSTALL $(DESTDIR)$(DATADIR)/digest/templates/"
	$(Q)install -m 0644 $(TEMPLATES) $(DESTDIR)$(DATADIR)/digest/templates/
	$(call install_sed,man/digest.1,$(DESTDIR)$(MANDIR)/man1/digest.1)
	$(call install_sed,man/digest.conf.5,$(DESTDIR)$(MANDIR)/man5/digest.conf.5)
	$(call install_sed,-e 's|^bindir=$$|bindir=$(BINDIR)|' cron/digest-cron,$(DESTDIR)$(LIBEXECDIR)/digest/digest-cron)
	$(Q)chmod 0755 $(DESTDIR)$(LIBEXECDIR)/digest/digest-cron
	$(call install_sed,cron/digest.crontab,$(DESTDIR)$(DATADIR)/digest/digest.crontab)
	$(call install_sed,dist/digest.conf.in,$(DESTDIR)$(DATADIR)/digest/digest.conf.example)
	$(Q)for u in $(UNITS); do echo "  INSTALL $(DESTDIR)$(UNITDIR)/$$u"; \
		$(INSTALL_SED) dist/$$u.in > $(DESTDIR)$(UNITDIR)/$$u || exit 1; done
	$(call install_sed,dist/sysusers.conf.in,$(DESTDIR)$(SYSUSERSDIR)/digest.conf)
	$(call install_sed,dist/tmpfiles.conf.in,$(DESTDIR)$(TMPFILESDIR)/digest.conf)
	@# the configuration is the admin's once there: never overwritten
	$(Q)if [ -e $(DESTDIR)$(SYSCONFDIR)/digest/digest.conf ]; then \
		echo "  KEPT    $(DESTDIR)$(SYSCONFDIR)/digest/digest.conf (the example: $(DATADIR)/digest/digest.conf.example)"; \
	else echo "  INSTALL $(DESTDIR)$(SYSCONFDIR)/digest/digest.conf"; \
		install -m 0644 $(DESTDIR)$(DATADIR)/digest/digest.conf.example $(DESTDIR)$(SYSCONFDIR)/digest/digest.conf; fi

# Everything install wrote but the configuration (and the state in STATEDIR).
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/digest $(DESTDIR)$(LIBEXECDIR)/digest/digest-cron \
		$(addprefix $(DESTDIR)$(DATADIR)/digest/templates/,$(notdir $(TEMPLATES))) \
		$(DESTDIR)$(DATADIR)/digest/digest.crontab $(DESTDIR)$(DATADIR)/digest/digest.conf.example \
		$(DESTDIR)$(MANDIR)/man1/digest.1 $(DESTDIR)$(MANDIR)/man5/digest.conf.5 \
		$(addprefix $(DESTDIR)$(UNITDIR)/,$(UNITS)) \
		$(DESTDIR)$(SYSUSERSDIR)/digest.conf $(DESTDIR)$(TMPFILESDIR)/digest.conf
	-rmdir $(DESTDIR)$(DATADIR)/digest/templates $(DESTDIR)$(DATADIR)/digest $(DESTDIR)$(LIBEXECDIR)/digest 2>/dev/null
	@echo "kept $(DESTDIR)$(SYSCONFDIR)/digest/ (the configuration) and $(STATEDIR) (the state)"

clean:
	rm -rf build digest

-include $(REL_OBJS:.o=.d) $(ASAN_OBJS:.o=.d) $(UNIT_BINS:build/asan/tests/%=build/asan/tests/unit/%.d)
.SECONDARY:
