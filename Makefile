# finwatch — every entry point an operator or CI needs. Targets install what they need
# themselves on Debian/Ubuntu (apt-get), so a fresh machine with the Swift toolchain suffices.

SWIFT      ?= swift
PREFIX     ?= /usr/local
BIN        := .build/release/finwatch
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_RUN    := libpcap-dev
APT_TEST   := libpcap-dev tcpdump nftables iproute2 procps systemd python3
ARGS       ?=

.PHONY: all build run test unit-test harness-test bench install uninstall deps-run deps-test clean

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
	@python3 -c 'import pytest' 2>/dev/null || python3 -m pip install -q pytest

build: deps-run
	$(SWIFT) build -c release --product finwatch

# Live capture on `any`, JSON lines on standard output. Capturing needs root or CAP_NET_RAW.
run: build
	$(SUDO) $(BIN) $(ARGS)

test: deps-test unit-test harness-test

unit-test:
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

harness-test: build
	FINWATCH_BIN=$(abspath $(BIN)) python3 -m pytest -q Tests/harness

clean:
	rm -rf .build
