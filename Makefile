# make setup: build .venv with the pinned requirements (once; reruns when requirements change)
# make demo:  Part 3 on the bundled images at the default settings
# make test:  the whole test suite
# make models: rebuild the training photos and retrain the shipped networks (about 6 h on 2 cores with bf16: the sittings' recorded times, added up)
# make serve: the local web app on http://127.0.0.1:$(PORT)/ (PORT=8000 unless given; Ctrl-C stops it)
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: setup demo test report bench clean photos models serve

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

demo: setup
	$(PY) run.py --part 3

test: setup
	$(PY) -m pytest -q

report: setup
	$(PY) -m stylekit report

serve: setup
	$(PY) -m stylekit serve --port $(PORT)

bench: setup
	$(PY) -m stylekit bench | tee results/bench.md

clean:
	rm -rf results/tmp .pytest_cache

photos: setup
	$(PY) -m stylekit photos

# The shipped feed-forward networks, with the settings they were trained with. The style
# networks: a first sitting with the plain Gram loss at relu1_1..relu4_1 (how they were first
# made), then 1,500 steps of part 3's relative loss (the preset's) from that file (README.md,
# "Part 3's style loss for the networks"); Starry Night's and the Great Wave's are then widened
# to 24 channels and trained 2,500 steps more ("Wider").
PLAIN_GRAM = --style-layers relu1_1,relu2_1,relu3_1,relu4_1 --no-style-normalize --style-weight 2e4
models: photos
	$(PY) -m stylekit train-fast --style images/style/starry_night.jpg $(PLAIN_GRAM) --tv-weight 100 --steps 2000 --out data/fast/starry_night_plain.pt
	$(PY) -m stylekit train-fast --style images/style/starry_night.jpg --tv-weight 100 --steps 1500 --init data/fast/starry_night_plain.pt --out data/fast/starry_night_w16.pt
	$(PY) -m stylekit train-fast --style images/style/starry_night.jpg --tv-weight 100 --steps 2500 --width 24 --init data/fast/starry_night_w16.pt --out models/starry_night.pt
	$(PY) -m stylekit train-fast --style images/style/great_wave.jpg $(PLAIN_GRAM) --tv-weight 100 --steps 1200 --out data/fast/great_wave_plain.pt
	$(PY) -m stylekit train-fast --style images/style/great_wave.jpg --tv-weight 100 --steps 1500 --init data/fast/great_wave_plain.pt --out data/fast/great_wave_w16.pt
	$(PY) -m stylekit train-fast --style images/style/great_wave.jpg --tv-weight 100 --steps 2500 --width 24 --init data/fast/great_wave_w16.pt --out models/great_wave.pt
	$(PY) -m stylekit train-fast --style images/style/composition_viii.jpg $(PLAIN_GRAM) --steps 1200 --out data/fast/composition_viii_plain.pt
	$(PY) -m stylekit train-fast --style images/style/composition_viii.jpg --steps 1500 --init data/fast/composition_viii_plain.pt --out models/composition_viii.pt
	$(PY) -m stylekit train-texture --style images/style/starry_night.jpg --steps 600 --out models/starry_night_texture.pt
# The WCT decoders: a first sitting, then more steps at a lower rate from its file (a fresh
# optimizer, as the shipped ones were made: README.md, "The WCT decoders").
# Each sitting into models/ also rewrites models/wct_portable.zip, their ONNX bundle.
	$(PY) -m stylekit train-wct --level 1 --steps 1500
	$(PY) -m stylekit train-wct --level 2 --steps 2000 --out data/wct/relu2_first.pt
	$(PY) -m stylekit train-wct --level 2 --steps 4000 --lr 5e-4 --init data/wct/relu2_first.pt
	$(PY) -m stylekit train-wct --level 3 --steps 2000 --out data/wct/relu3_first.pt
	$(PY) -m stylekit train-wct --level 3 --steps 5000 --lr 5e-4 --init data/wct/relu3_first.pt
	$(PY) -m stylekit train-wct --level 4 --steps 1000 --lr 5e-4 --init models/adain_decoder.pt --out data/wct/relu4_first.pt
	$(PY) -m stylekit train-wct --level 4 --steps 5000 --lr 5e-4 --init data/wct/relu4_first.pt
	$(PY) -m stylekit train-wct --level 4 --steps 9000 --lr 5e-4 --resume
