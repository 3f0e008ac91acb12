# Two commands do all set-up on a fresh machine:
#   make run    create .venv, install, train models/animeface-10 if missing, recognise a real picture
#   make test   create .venv, install, run the test suite
VENV      := .venv
PY        := $(VENV)/bin/python
DAREKANA  := $(VENV)/bin/darekana
DATASETS  := ../shared/datasets
BUNDLE    ?= models/animeface-10
PICTURE   ?= $(DATASETS)/animeface-10/000_hatsune_miku/SFpLpPSK_400x400.jpg

.PHONY: setup run test bench

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	touch $@

$(BUNDLE)/manifest.json: | setup
	$(DAREKANA) train fit $(DATASETS)/animeface-10 --out $(BUNDLE)

run: setup $(BUNDLE)/manifest.json
	mkdir -p runs
	$(DAREKANA) recognize $(PICTURE) --bundle $(BUNDLE) --annotate runs/annotated.png
	@echo "annotated picture: runs/annotated.png"

test: setup
	$(PY) -m pytest -q

bench: setup $(BUNDLE)/manifest.json
	$(PY) bench/accuracy.py
	$(PY) bench/latency.py --bundle $(BUNDLE)
