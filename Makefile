# Two commands do all set-up on a fresh machine:
#   make run    create .venv, install, make models/115 (animeface-10, moeimouto-85 and hololive-20: 115
#               characters, on the shipped base network: minutes) if missing, point models/current at it if
#               that link is missing, serve the HTTP API and page (and Discord when DAREKANA_DISCORD_TOKEN is
#               set in .env)
#   make test   create .venv, install (and Debian's chromium for the page test), lint, type-check, run the tests
VENV      := .venv
PY        := $(VENV)/bin/python
DAREKANA  := $(VENV)/bin/darekana
DATASETS  := ../shared/datasets
BUNDLE    ?= models/115
FACES     ?= $(DATASETS)/animeface-10 $(DATASETS)/moeimouto-85 $(DATASETS)/hololive-20
CURRENT   := models/current
PICTURE   ?= $(DATASETS)/animeface-10/000_hatsune_miku/SFpLpPSK_400x400.jpg

BASE      := darekana/recognizer/data/anime-base
BASE_RUN  := runs/base/anime-base
# The shipped network is one run of `darekana train base` on every character, on its defaults (the recipe: 8 epochs
# at 192 px from the ImageNet trunk with a triplet loss and a BNNeck), training seed 0 (seed 1 was measured too:
# docs/benchmarks.md, "192 px faces shipped"). Its held-out twins (`make $(BASE_TWIN)-SEED.onnx`: the same
# run with these 15 moeimouto-85 characters, bench/enroll.py's left-out draw, held out; training seeds 0 and 1) are
# what the model card's figures on characters it never saw measure (`python -m bench.enroll --network`).
BASE_SEED ?= 0
BASE_HOLD_OUT ?= akihime_sumomo alice_margatroid amami_haruka erio_mondial hayase_mitsuki horo kisaragi_chihaya \
	kururugi_suzaku li_syaoran melon-chan miura_azusa ranka_lee sairenji_haruna souryuu_asuka_langley yagami_hayate
# A second draw of 15 (bench/enroll.py --seed 1's), held out by the twins `make $(BASE_TWIN_1)-SEED.onnx`: a figure
# on characters it never saw should hold on more than one draw of them.
BASE_HOLD_OUT_1 ?= akizuki_ritsuko chii hayase_mitsuki hiiragi_tsukasa hirasawa_yui houjou_reika katsura_hinagiku \
	kawashima_ami kirisame_marisa nagato_yuki ryuuguu_rena sendou_erika shameimaru_aya shirakawa_kotori tohsaka_rin
BASE_TWIN := runs/base/anime-base-twin
BASE_TWIN_1 := runs/base/anime-base-draw-1-twin
# Earlier experiments start from the network shipped until 2026-12-05 (24 epochs, softmax only, the 15 held out),
# taken back from git history instead of an hour's training: a network cut from it to half the hidden channels
# (train base --slim; measured in docs/benchmarks.md, not shipped).
BASE_FIRST     := runs/base/anime-base-160
FIRST_REV      ?= a5c259a
BASE_SLIM_HELD := runs/base/anime-base-slim-held

.PHONY: setup setup-test browser run recognize lint test bench base card

# `make run` installs what the service needs and no more: the test tools (Ray, mypy, Selenium...) are `setup-test`'s.
# Modules are compiled to bytecode when first imported, not at install: compiling every module of torch and the
# rest took half the install (docs/benchmarks.md, "A lighter set-up, and the seed-1 twins").
setup: $(VENV)/.installed
setup-test: $(VENV)/.installed-test

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --no-compile -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install -q --no-compile -e ".[test]"
	touch $@

$(BUNDLE)/manifest.json: | setup
	$(DAREKANA) train fit $(FACES) --out $(BUNDLE)

# The page test drives Debian's Chromium; install it when missing (root, as on these machines).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		(apt-get install -y -q chromium chromium-driver >/dev/null || \
		 (apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null))

# The bot answers with the bundle this link points at; enrolling (moderators) and promotions re-point it.
$(CURRENT): | $(BUNDLE)/manifest.json
	$(DAREKANA) bundle promote $(BUNDLE) --current $(CURRENT)

run: setup $(BUNDLE)/manifest.json $(CURRENT)
	$(DAREKANA) serve

recognize: setup $(BUNDLE)/manifest.json
	mkdir -p runs
	$(DAREKANA) recognize $(PICTURE) --bundle $(BUNDLE) --annotate runs/annotated.png
	@echo "annotated picture: runs/annotated.png"

lint: setup-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: setup-test browser lint
	$(PY) -m pytest -q

# Retrains the shipped base network from the shared sets (81 minutes on 2 cores beside two other runs; after a stop, the same
# command continues), then ships it with its record and model card.
base: setup
	$(DAREKANA) train base $(FACES) --out $(BASE_RUN).onnx --seed $(BASE_SEED)
	cp $(BASE_RUN).onnx $(BASE).onnx && cp $(BASE_RUN).json $(BASE).json
	$(DAREKANA) train card $(BASE).onnx

# The model card's figures are the benchmarks' own JSON lines, kept in $(CARD_FIGURES): bench/accuracy.py on the
# shipped network, bench/enroll.py --seed D on each held-out twin of draw D (draw-D/twin-SEED.json; draw 0 holds out
# BASE_HOLD_OUT, draw 1 BASE_HOLD_OUT_1) (docs/training.md, "Shipping a base network").
CARD_FIGURES := bench/results/anime-base
card: setup
	$(PY) -m bench.card --accuracy $(CARD_FIGURES)/accuracy.json --enroll $(CARD_FIGURES)/draw-*/twin-*.json --out runs/card
	$(DAREKANA) train card $(BASE).onnx --figures "Bundles built on it" runs/card/bundles.json \
		--figures "Characters it never saw" runs/card/never-saw-0.json \
		--figures "Characters it never saw: another draw" runs/card/never-saw-1.json

$(BASE_TWIN)-%.onnx: | setup
	$(DAREKANA) train base $(FACES) --out $@ --seed $* --hold-out $(BASE_HOLD_OUT)

$(BASE_TWIN_1)-%.onnx: | setup
	$(DAREKANA) train base $(FACES) --out $@ --seed $* --hold-out $(BASE_HOLD_OUT_1)

$(BASE_SLIM_HELD).onnx: $(BASE_FIRST).onnx | setup
	$(DAREKANA) train base $(FACES) --out $@ --pretrained $(BASE_FIRST).onnx --slim 0.5 --epochs 10 --triplet 0 --head linear --hold-out $(BASE_HOLD_OUT)

$(BASE_FIRST).onnx: | setup
	mkdir -p $(@D)
	git show $(FIRST_REV):$(BASE).json > $(BASE_FIRST).json && git show $(FIRST_REV):$(BASE).onnx > $@

# accuracy.py trains each set's bundle into runs/bench; openset.py and enroll.py --mode cross-set reuse them.
bench: setup-test $(BUNDLE)/manifest.json
	$(PY) -m bench.accuracy --out runs/bench --sets animeface-10 hololive-20 115
	$(PY) -m bench.openset --bundles runs/bench --sets hololive-20 animeface-10 115
	$(PY) -m bench.enroll --out runs/bench/enroll
	$(PY) -m bench.enroll --out runs/bench/enroll-160 --img-size 160
	$(PY) -m bench.enroll --out runs/bench/enroll-cosface --head cosface
	$(PY) -m bench.enroll --mode cross-set --out runs/bench/hololive-20
	$(PY) -m bench.detect --model darekana/recognizer/data/faceboxes-anime-heads.onnx
	$(PY) -m bench.framing runs/bench/animeface-10 runs/bench/hololive-20
	$(PY) -m bench.latency --bundle $(BUNDLE)
	$(PY) -m bench.service --bundle $(BUNDLE)
	$(PY) -m bench.service --bundle $(BUNDLE) --pictures 40mp --clients 2 --requests 24
	$(PY) -m bench.fuzz
	$(PY) -m bench.tag --bundle $(BUNDLE)
	$(PY) -m bench.calibration --datasets animeface-10 hololive-20 --seeds 0
	$(PY) -m bench.first_answer
