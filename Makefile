# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU wheel this machine ships installs in seconds; the package itself accepts any torch>=2.0.
TORCH_DEV := torch==2.13.0
DEMO_DIR := perfkit-runs/demo

.PHONY: setup demo test bench bench-hta reports docs lint clean gpu-wheels gpu-check gpu-check-dry

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

# The rule catalogue from the rules' docstrings (tests/test_rule_docs.py fails while it is stale).
docs: setup
	$(BIN)/python -m perfkit.rules.catalogue > docs/rules.md

lint: setup
	$(BIN)/ruff check perfkit tests bench
	$(BIN)/ruff format --check perfkit tests bench
	$(BIN)/mypy perfkit

# The GPU check (bench/gpu_check.py, README "GPU check"). The GPU machine has Python 3.12,
# torch with CUDA and most of perfkit's needs, but no network: `make gpu-wheels` here fetches
# the wheels it lacks into .whl/ (ignored; carried to the run). `make gpu-check` runs there
# with its own python3 (no .venv): those wheels go into a folder of their own, perfkit
# installs without dependencies, then the check writes $$OUT/gpu-results.json.
# `make gpu-check-dry` rehearses every step that needs no CUDA, here.
GPU_WHEELS := orjson==3.13.0 msgspec==0.22.0 torch-tb-profiler==0.4.3
GPU_PLATFORMS := manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 \
	manylinux2014_x86_64 manylinux1_x86_64
GPU_SITE ?= /tmp/perfkit-gpu-site
GPU_CHECK_ARGS ?=

gpu-wheels:
	$(PYTHON) -m pip download --quiet --disable-pip-version-check --no-deps \
		--only-binary=:all: --python-version 3.12 --implementation cp \
		$(addprefix --platform ,$(GPU_PLATFORMS)) -d .whl $(GPU_WHEELS)
	ls -l .whl

gpu-check:
	if ls .whl/*.whl >/dev/null 2>&1; then $(PYTHON) -m pip install --quiet --no-index \
		--no-deps --no-compile --no-cache-dir --upgrade --target $(GPU_SITE) .whl/*.whl; fi
	-$(PYTHON) -m pip install --quiet --no-deps --no-build-isolation -e .
	PYTHONPATH=$(GPU_SITE)$${PYTHONPATH:+:$$PYTHONPATH} $(PYTHON) bench/gpu_check.py $(GPU_CHECK_ARGS)

gpu-check-dry: setup
	$(BIN)/python bench/gpu_check.py --dry-run $(GPU_CHECK_ARGS)

clean:
	rm -rf $(VENV) .venv-hta perfkit-runs .pytest_cache
