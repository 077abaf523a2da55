# Two commands do all set-up from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.cgan-installed

.PHONY: demo test bench clean-venv

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch==2.13.0 goes in first: on CPU machines it is the local CPU build, and the project's
# torch range then installs nothing more (a bare `torch` could pull a several-GB CUDA build).
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

# The benchmark suite: one table on stdout, JSON in bench_out/benchmarks.json (under 15 min on 2 cores).
bench: $(STAMP)
	$(PY) -m benchmarks

demo: $(STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" bash scripts/demo.sh

clean-venv:
	rm -rf $(VENV)
