# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU wheel this machine ships installs in seconds; the package itself accepts any torch>=2.0.
TORCH_DEV := torch==2.13.0
DEMO_DIR := perfkit-runs/demo

.PHONY: setup demo test bench bench-hta reports lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "$(TORCH_DEV)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(BIN)/perfkit reference --preset cnn --inject host-sync,graph-leak,data-starved,eval-grad \
		-o $(DEMO_DIR) --force
	$(BIN)/perfkit report $(DEMO_DIR)
	$(BIN)/perfkit report $(DEMO_DIR) -o $(DEMO_DIR)/report.html

test: setup
	$(BIN)/python -m pytest -q

# Capture overhead (next to torch.profiler) and report speed on ~50 MB-1 GB traces, into
# bench/results.json. HTA joins the trace table when `make bench-hta` has installed it.
bench: setup
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/traces.py
	$(BIN)/python bench/tables.py

bench-hta:
	$(PYTHON) -m venv .venv-hta
	.venv-hta/bin/python -m pip install --quiet --disable-pip-version-check HolisticTraceAnalysis

reports: setup
	$(BIN)/python reports/regenerate.py

lint: setup
	$(BIN)/ruff check perfkit tests bench
	$(BIN)/ruff format --check perfkit tests bench

clean:
	rm -rf $(VENV) .venv-hta perfkit-runs .pytest_cache
