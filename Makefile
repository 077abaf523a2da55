# Two commands do all set-up from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.cgan-installed
WEB_MODULES := web/node_modules/.package-lock.json
APT_TIMEOUT ?= 600

.PHONY: demo test bench docs web browser-tools clean-venv

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch==2.13.0 goes in first: on CPU machines it is the local CPU build, and the project's
# torch range then installs nothing more (a bare `torch` could pull a several-GB CUDA build).
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

test: $(STAMP) $(WEB_MODULES)
	$(PY) -m pytest -q

# The browser page (web/): its tests run it in Debian's Chromium, and Node runs its modules. Missing
# tools are installed when make runs as root (as CI does), each apt step time-boxed; otherwise a note
# says which tests will be skipped. web/node_modules comes from the lock file (npm ci).
define apt_need
	@command -v $(1) >/dev/null || { \
	  if [ "$$(id -u)" != 0 ]; then echo "note: no $(1): the browser tests will be skipped (apt-get install $(2))"; \
	  else echo "installing $(2) with apt-get"; \
	    timeout $(APT_TIMEOUT) apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive timeout $(APT_TIMEOUT) apt-get install -y -qq $(2) >/dev/null \
	    || { echo "apt-get install $(2) failed (or took over $(APT_TIMEOUT) s)"; exit 1; }; fi; }
endef

browser-tools:
	$(call apt_need,chromium,chromium)
	$(call apt_need,npm,nodejs npm)

$(WEB_MODULES): web/package-lock.json | browser-tools
	@if command -v npm >/dev/null; then cd web && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error; \
	else echo "note: no npm: web/node_modules not installed"; fi

# Serves the page on 127.0.0.1 (PORT=8000 by default) and prints the address to open.
web: $(WEB_MODULES)
	$(PYTHON) scripts/serve_web.py --port $(or $(PORT),8000)

# The benchmark suite: one table on stdout, JSON in bench_out/benchmarks.json (under 15 min on 2 cores).
bench: $(STAMP)
	$(PY) -m benchmarks

# Every generated page of docs/ rewritten from its committed JSON (benchmarks/pages.py); measures nothing.
docs: $(STAMP)
	$(PY) -m benchmarks.pages

demo: $(STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" bash scripts/demo.sh

clean-venv:
	rm -rf $(VENV)
