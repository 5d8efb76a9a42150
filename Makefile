# Two entry points for a fresh machine: `make search` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FASHION_DIR := /usr/share/datasets/fashion-mnist
TRIALS ?= 50
PYTEST_ARGS ?= -m "not slow"

.PHONY: install data browser search test lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || \
		{ echo "tune-mtl needs Python >= 3.10; $(PYTHON) is older. Run: make PYTHON=python3.11"; exit 2; }
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); \
		else echo "python3 cannot create a venv; install python3-venv (Debian: apt-get install python3-venv)"; exit 2; fi; }
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,bench]'
	@touch $@

# Fashion-MNIST from Debian's package; elsewhere Keras downloads it at the first search.
data:
	@if [ -n "$$TUNE_MTL_DATA_DIR" ] || [ -f $(FASHION_DIR)/train-images-idx3-ubyte.gz ]; then \
		echo "Fashion-MNIST: found"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Fashion-MNIST: installing Debian's dataset-fashion-mnist"; \
		apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; \
	else \
		echo "Fashion-MNIST: not in $(FASHION_DIR); Keras will download it, or run as root:"; \
		echo "  apt-get install dataset-fashion-mnist   (or set TUNE_MTL_DATA_DIR to the IDX files)"; \
	fi

# Chromium renders the report page in a test; without it that one test is skipped, saying why.
browser:
	@if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then \
		echo "Chromium: found"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Chromium: installing Debian's chromium"; \
		apt-get update -qq && apt-get install -y -qq chromium; \
	else \
		echo "Chromium: not found; the report's rendering test will be skipped. As root:"; \
		echo "  apt-get install chromium"; \
	fi

search: install data
	$(BIN)/tune-mtl search --trials $(TRIALS)

test: install browser
	$(BIN)/python -m pytest -rs $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check tune_mtl tests benchmarks examples
	$(BIN)/ruff format --check tune_mtl tests benchmarks examples
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build *.egg-info
