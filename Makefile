# The two commands in the README: `make run` and `make test`.
# Each creates or updates .venv from constraints.txt; `make test` also installs
# Xvfb and Mesa (for the OpenGL tests) when they are missing and we are root.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Debian packages the Qt/OpenGL app and tests need under Xvfb.
SYSTEM_PACKAGES := xvfb xauth libgl1 libegl1 libgl1-mesa-dri libglx-mesa0 libfontconfig1 \
	libxkbcommon0 libxkbcommon-x11-0 libdbus-1-3 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 \
	libxcb-image0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-randr0 libxcb-xkb1 \
	libxrender1 libxi6

.PHONY: run test venv system-deps lint bench clean

# Opens the app on the demo scene; without a display it runs under Xvfb and saves
# a picture of the window to demo.png instead.
run: system-deps $(BIN)/.installed
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then \
		$(BIN)/liftstudio --demo; \
	else \
		echo "No display: running the app under Xvfb; it saves the window to demo.png"; \
		xvfb-run -a -s "-screen 0 1600x1000x24" $(BIN)/liftstudio --demo --screenshot demo.png; \
	fi

test: system-deps $(BIN)/.installed
	$(BIN)/ruff check liftstudio tests
	$(BIN)/ruff format --check liftstudio tests
	$(BIN)/python -m pytest

venv: $(BIN)/.installed

$(BIN)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

system-deps:
	@missing=$$(dpkg-query -W -f='$${Package} $${Status}\n' $(SYSTEM_PACKAGES) 2>/dev/null \
		| awk '$$NF != "installed" {print $$1}'; \
		for p in $(SYSTEM_PACKAGES); do dpkg-query -W $$p >/dev/null 2>&1 || echo $$p; done); \
	missing=$$(echo $$missing | tr ' ' '\n' | sort -u | tr '\n' ' '); \
	if [ -z "$${missing// /}" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing system packages for the OpenGL app and tests: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else \
		echo "Missing system packages for the OpenGL app and tests (install them as root): $$missing" >&2; \
	fi

lint: $(BIN)/.installed
	$(BIN)/ruff check liftstudio tests
	$(BIN)/lint-imports

bench: $(BIN)/.installed
	$(BIN)/liftstudio bench io
	$(BIN)/liftstudio bench render
	xvfb-run -a $(BIN)/liftstudio bench viewport

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
