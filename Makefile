# airgap.packages: development entry points. `make demo` and `make test` bootstrap everything.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
COLLECTIONS := $(CURDIR)/build/collections
# ansible-test ignores files that the enclosing git checkout ignores: the copy lives outside it.
SANITY_ROOT := /var/tmp/airgap-packages-sanity
SANITY_COPY := $(SANITY_ROOT)/ansible_collections/airgap/packages
INDEX_EXTRAS := $(CURDIR)/.cache/index-extras
APT_PACKAGES := python3 python3-venv python3-pip python3-dev ruby ruby-dev build-essential openssh-server openssh-client \
	iproute2 util-linux shellcheck git debootstrap
export PATH := $(BIN):$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export ANSIBLE_DEPRECATION_WARNINGS := False
PYTEST := $(BIN)/python -m pytest

.PHONY: help bootstrap system-packages venv demo test unit sanity lint integration mixed-fleet molecule build clean hosts-clean

help:
	@echo "make demo   - build caches, install them on offline hosts started here, run again, clean up"
	@echo "make test   - the whole suite: unit, sanity, lint, molecule, integration"
	@echo "make unit | sanity | lint | molecule | integration - one part of the suite"
	@echo "make mixed-fleet - only the bullseye/bookworm/trixie scenario"
	@echo "make build  - the collection artifact; make clean - remove build output"

bootstrap: system-packages venv

system-packages:
	@if [ "$$(id -u)" != 0 ]; then \
		echo "make: the test hosts and system packages need root; run as root (missing: root privileges)" >&2; exit 1; fi
	@command -v apt-get >/dev/null || { \
		echo "make: apt-get not found; install by hand: $(APT_PACKAGES)" >&2; exit 1; }
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing system packages:" $$missing; \
		apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing >/dev/null; \
	fi

venv: $(STAMP)

$(STAMP): requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade -r requirements-dev.txt
	@mkdir -p $(INDEX_EXTRAS) $(COLLECTIONS)/ansible_collections/airgap
	$(BIN)/python -m pip download -q --no-deps -d $(INDEX_EXTRAS) setuptools==65.5.0 wheel==0.45.1 pip==26.3 uv==0.13.9
	@ln -sfn $(CURDIR) $(COLLECTIONS)/ansible_collections/airgap/packages
	@mkdir -p $$HOME/.ansible/test/cache && cp tests/harness/get_pip_standin.py $$HOME/.ansible/test/cache/get_pip_24_2.py
	@touch $@

demo: bootstrap
	$(BIN)/python demo/run.py

test: bootstrap
	$(MAKE) --no-print-directory unit sanity lint molecule integration

unit: venv
	$(PYTEST) tests/unit -q

# Every controller Python that ansible-core 2.19 supports, taken from where pyenv keeps it (its shims may not
# answer for a version that is not selected) or else from PATH.
SANITY_PYTHONS := 3.11 3.12 3.13
sanity: venv
	@rm -rf $(SANITY_ROOT) && mkdir -p $(SANITY_COPY)
	@git ls-files --cached --others --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C $(SANITY_COPY)
	@for version in $(SANITY_PYTHONS); do \
	  found=$$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/$$version*/bin/python$$version 2>/dev/null | tail -1 || true); \
	  [ -n "$$found" ] || found=$$(command -v python$$version || true); \
	  if [ -z "$$found" ] || ! "$$found" -c pass 2>/dev/null; then echo "sanity: python$$version not found; install it (for example pyenv install $$version) or run make sanity SANITY_PYTHONS=..." >&2; exit 1; fi; \
	  echo "== ansible-test sanity on Python $$version ($$found)"; \
	  (cd $(SANITY_COPY) && PATH="$$(dirname $$found):$$PATH" $(BIN)/ansible-test sanity --venv --python $$version --color no) || exit 1; \
	done

lint: venv
	$(BIN)/ansible-lint --profile production --nocolor
	$(BIN)/antsibull-changelog lint

molecule: bootstrap
	cd extensions && for scenario in $$(ls molecule); do \
		[ -f molecule/$$scenario/molecule.yml ] || continue; \
		echo "== molecule scenario $$scenario"; NO_COLOR=1 $(BIN)/molecule test --scenario-name $$scenario; done

integration: bootstrap
	$(PYTEST) tests/integration -q

# The mixed-fleet scenario alone (bullseye, bookworm, trixie hosts; part of `make integration`).
mixed-fleet: bootstrap
	$(PYTEST) -m mixed_fleet tests/integration -q

build: venv
	$(BIN)/ansible-galaxy collection build --force --output-path build/

hosts-clean: venv
	$(BIN)/python tests/harness/hosts.py stop-all

clean:
	rm -rf build tests/output .cache
