# Two commands do all set-up on a fresh machine (see README.md):
#   make demo   install botguard in .venv and scan the bundled example log
#   make test   install the test dependencies and run the test suite
#   make lint   ruff (lint and format) and mypy, as CI runs them
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint bench clean system-packages

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The compiled kernels (botguard/**/*.c, see setup.py) are built by this install: a changed
# source rebuilds them in place.
KERNELS := $(wildcard botguard/*.c botguard/*/*.c botguard/*.h botguard/*/*.h)

$(VENV)/.installed: $(BIN)/python pyproject.toml setup.py $(KERNELS)
	$(BIN)/pip install --quiet -e .
	touch $@

# The engines' extras too: the Spark and Dask tests run in CI like every other test.
$(VENV)/.test-installed: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test,spark,dask]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/botguard scan examples/access.log --robots examples/robots.txt --config examples/botguard.yaml --state $(VENV)/demo-state.db

# The tests run real nginx, apache2, goaccess, wrk and chromium (tools/system-packages lists
# them): checked before anything else, so a fresh machine gets one line saying what to install.
system-packages:
	$(eval missing := $(shell tools/system-packages missing))
	$(if $(missing),$(error the tests need system packages that are missing: $(missing); install them with: sudo apt-get install -y $(missing)))
	@:

test: system-packages $(VENV)/.test-installed
	$(BIN)/python -m pytest

# Findings fail the target: CI runs it before the tests (configuration in pyproject.toml).
lint: $(VENV)/.test-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(VENV)/.test-installed
	$(BIN)/python bench/bench_robots.py
	$(BIN)/python bench/bench_robots_huge.py
	$(BIN)/python bench/bench_scan.py
	$(BIN)/python bench/bench_small.py
	$(BIN)/python bench/bench_cron.py
	$(BIN)/python bench/bench_deploy.py
	$(BIN)/python bench/bench_model.py
	$(BIN)/python bench/bench_model_stream.py
	$(BIN)/python bench/bench_challenge.py
	$(BIN)/python bench/bench_campaigns.py
	$(BIN)/python bench/bench_stream_bus.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
