# make setup: build .venv with the pinned requirements (once; reruns when requirements change)
# make demo:  Part 3 on the bundled images at the default settings
# make test:  the whole test suite
# make models: rebuild the training photos and retrain the shipped networks (about 18 h on 2 cores with bf16: the CPU sittings' recorded 7.5 h, and
#              the 25,050 GPU steps at 0.65 steps/s; with a CUDA device the GPU sittings take minutes: README.md, "Trained on a GPU";
#              WCT lite's encoder and decoders another 2 h 57 min, measured in fp32 on 2 AVX2 cores, and 34 min for
#              the last relu3_1 and relu4_1 sittings, in bf16 on 2 AVX-512 cores)
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
# to 24 channels and trained 2,500 steps more ("Wider"). The last two sittings of each ran on a
# GPU (README.md, "Trained on a GPU"): any --device runs them, at about 3.5 h each on 2 cores.
# Those sittings aimed at the painting shrunk with LANCZOS; train-fast now shrinks it as the
# optimization does (README.md, "The painting the networks aim at"), and the Great Wave's last
# sitting, on 2 cores, aimed at that. Starry Night's last sitting, on 2 cores, aimed at it too,
# on 512 px crops of photos stored larger (README.md, "Trained at the size they serve").
# The last sitting of each: part 3's own loss balance (content at relu4_2, weight 2.5; style 1,000;
# relu5_1 at a tenth; no TV), 500 steps (Starry Night 800) on single 512 px crops with the painting at 512 px: the
# networks had plateaued under Johnson et al.'s balance (README.md, "Part 3's loss for the networks").
PART3_LOSS = --tv-weight 0 --content-layer relu4_2 --content-weight 2.5 --style-weight 1000 --style-layers relu1_1,relu2_1,relu3_1,relu4_1,relu5_1:0.1
AT_512 = --data data/photos512 --train-size 512 --style-size 512 --batch 1 --width 24 --lr 5e-4 --save-every 100
PLAIN_GRAM = --style-layers relu1_1,relu2_1,relu3_1,relu4_1 --no-style-normalize --style-weight 2e4
# WCT lite's decoders: the narrow encoder's features, in batches of 8 crops
LITE_WCT = $(PY) -m stylekit train-wct --encoder models/wct_lite_encoder.pt --batch 8
# $(call gpu_sittings,PAINTING,FROM,FIRST_MAIN,FIRST_END,SECOND_MAIN,SECOND_END,MORE_FLAGS,SECOND_OUT)
define gpu_sittings
	$(PY) -m stylekit train-fast --style images/style/$(1).jpg $(7) --width 24 --save-every 500 --steps 150 --lr 5e-4 --init $(2) --out data/fast/$(1)_gpu1.pt
	$(PY) -m stylekit train-fast --style images/style/$(1).jpg $(7) --width 24 --save-every 500 --steps $(3) --lr 2e-3 --resume --out data/fast/$(1)_gpu1.pt
	$(PY) -m stylekit train-fast --style images/style/$(1).jpg $(7) --width 24 --save-every 500 --steps $(4) --lr 4e-4 --resume --out data/fast/$(1)_gpu1.pt
	$(PY) -m stylekit train-fast --style images/style/$(1).jpg $(7) --width 24 --save-every 500 --steps $(5) --lr 4e-4 --init data/fast/$(1)_gpu1.pt --out $(8)
	$(PY) -m stylekit train-fast --style images/style/$(1).jpg $(7) --width 24 --save-every 500 --steps $(6) --lr 1.5e-4 --resume --out $(8)
endef
models: photos
	$(PY) -m stylekit train-fast --style images/style/starry_night.jpg $(PLAIN_GRAM) --tv-weight 100 --steps 2000 --out data/fast/starry_night_plain.pt
	$(PY) -m stylekit train-fast --style images/style/starry_night.jpg --tv-weight 100 --steps 1500 --init data/fast/starry_night_plain.pt --out data/fast/starry_night_w16.pt
	$(PY) -m stylekit train-fast --style images/style/starry_night.jpg --tv-weight 100 --steps 2500 --width 24 --init data/fast/starry_night_w16.pt --out data/fast/starry_night_w24.pt
	$(call gpu_sittings,starry_night,data/fast/starry_night_w24.pt,3950,5250,2300,3100,--tv-weight 100,data/fast/starry_night_gpu2.pt)
	$(PY) -m stylekit photos --crop-size 512 --out data/photos512
	$(PY) -m stylekit train-fast --style images/style/starry_night.jpg --style-size 512 --tv-weight 100 --width 24 --steps 800 --lr 5e-4 --train-size 512 --batch 1 --save-every 400 --data data/photos512 --init data/fast/starry_night_gpu2.pt --out data/fast/starry_night_relu2_2.pt
	$(PY) -m stylekit train-fast --style images/style/starry_night.jpg $(AT_512) $(PART3_LOSS) --steps 800 --init data/fast/starry_night_relu2_2.pt --out models/starry_night.pt
	$(PY) -m stylekit train-fast --style images/style/great_wave.jpg $(PLAIN_GRAM) --tv-weight 100 --steps 1200 --out data/fast/great_wave_plain.pt
	$(PY) -m stylekit train-fast --style images/style/great_wave.jpg --tv-weight 100 --steps 1500 --init data/fast/great_wave_plain.pt --out data/fast/great_wave_w16.pt
	$(PY) -m stylekit train-fast --style images/style/great_wave.jpg --tv-weight 100 --steps 2500 --width 24 --init data/fast/great_wave_w16.pt --out data/fast/great_wave_w24.pt
	$(call gpu_sittings,great_wave,data/fast/great_wave_w24.pt,3850,5150,2400,3200,--tv-weight 100,data/fast/great_wave_gpu2.pt)
	$(PY) -m stylekit train-fast --style images/style/great_wave.jpg --tv-weight 100 --width 24 --steps 400 --lr 5e-4 --init data/fast/great_wave_gpu2.pt --out data/fast/great_wave_relu2_2.pt
	$(PY) -m stylekit train-fast --style images/style/great_wave.jpg $(AT_512) $(PART3_LOSS) --steps 500 --init data/fast/great_wave_relu2_2.pt --out models/great_wave.pt
	$(PY) -m stylekit train-fast --style images/style/composition_viii.jpg $(PLAIN_GRAM) --steps 1200 --out data/fast/composition_viii_plain.pt
	$(PY) -m stylekit train-fast --style images/style/composition_viii.jpg --steps 1500 --init data/fast/composition_viii_plain.pt --out data/fast/composition_viii_w16.pt
	$(call gpu_sittings,composition_viii,data/fast/composition_viii_w16.pt,3950,5250,2300,3100,,data/fast/composition_viii_relu2_2.pt)
	$(PY) -m stylekit train-fast --style images/style/composition_viii.jpg $(AT_512) $(PART3_LOSS) --steps 500 --init data/fast/composition_viii_relu2_2.pt --out models/composition_viii.pt
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
# WCT lite (`adain --method wct-lite`): VGG-19 distilled into an encoder with a quarter of its
# channels (relu1_1 whole), then one decoder per level of that encoder's features, at a quarter of
# the paper's channels; the last of them rewrites models/wct_lite.zip, their ONNX bundle. The
# encoder's loss was falling slowly by step 2,900 at lr 5e-4; its last 600 steps ran at 1.5e-4.
# The decoders' first sittings (lr 1e-3) left them blurred; they went on at 5e-4, then 2e-4, while
# their reconstructions of unseen photos kept improving (README.md, "WCT lite").
	$(PY) -m stylekit train-student --steps 2900
	$(PY) -m stylekit train-student --steps 3500 --lr 1.5e-4 --resume
	$(LITE_WCT) --width 0.25 --level 4 --steps 3000 --out data/wct/lite_relu4_1.pt
	$(LITE_WCT) --width 0.25 --level 4 --steps 6500 --lr 5e-4 --resume --out data/wct/lite_relu4_1.pt
	$(LITE_WCT) --width 0.25 --level 4 --steps 9000 --lr 5e-4 --resume --out data/wct/lite_relu4_1.pt
	$(LITE_WCT) --width 0.25 --level 4 --steps 10000 --lr 2e-4 --resume --out data/wct/lite_relu4_1.pt
	$(LITE_WCT) --width 0.25 --level 4 --steps 12500 --lr 2e-4 --resume --out data/wct/lite_relu4_1.pt
	$(LITE_WCT) --width 0.25 --level 4 --steps 18500 --lr 2e-4 --resume --out data/wct/lite_relu4_1.pt
	$(LITE_WCT) --width 0.25 --level 4 --steps 24500 --lr 1e-4 --resume --out data/wct/lite_relu4_1.pt
	$(LITE_WCT) --width 0.25 --level 4 --steps 30500 --lr 1e-4 --resume --out data/wct/lite_relu4_1.pt
	$(LITE_WCT) --width 0.25 --level 3 --steps 2500 --out data/wct/lite_relu3_1.pt
	$(LITE_WCT) --width 0.25 --level 3 --steps 5000 --lr 5e-4 --resume --out data/wct/lite_relu3_1.pt
	$(LITE_WCT) --width 0.25 --level 3 --steps 7000 --lr 5e-4 --resume --out data/wct/lite_relu3_1.pt
	$(LITE_WCT) --width 0.25 --level 3 --steps 8000 --lr 2e-4 --resume --out data/wct/lite_relu3_1.pt
	$(LITE_WCT) --width 0.25 --level 3 --steps 10000 --lr 2e-4 --resume --out data/wct/lite_relu3_1.pt
	$(LITE_WCT) --width 0.25 --level 3 --steps 16000 --lr 2e-4 --resume --out data/wct/lite_relu3_1.pt
	$(LITE_WCT) --width 0.25 --level 3 --steps 21000 --lr 1e-4 --resume --out data/wct/lite_relu3_1.pt
# The shipped relu3_1 decoder: the one above widened to half the paper's channels (computing what it
# did), 2,500 steps, then narrowed back to a quarter at the picture's full size, where each
# convolution costs most; the relu4_1 one: the one above, 2,000 steps more compared in VGG-19's
# features (README.md, "WCT lite"). bf16, as they were made.
	$(LITE_WCT) --precision bf16 --width 0.5 --level 3 --steps 2500 --lr 3e-4 --init data/wct/lite_relu3_1.pt --out data/wct/lite_relu3_half.pt
	$(LITE_WCT) --precision bf16 --width 0.5 --full-size-width 0.25 --level 3 --steps 2000 --lr 2e-4 --init data/wct/lite_relu3_half.pt --out models/wct_lite_relu3_1.pt
	$(LITE_WCT) --precision bf16 --width 0.5 --full-size-width 0.25 --level 3 --steps 4000 --lr 1e-4 --resume --out models/wct_lite_relu3_1.pt
	$(LITE_WCT) --precision bf16 --width 0.25 --level 4 --steps 2000 --lr 1e-4 --feature-loss vgg19 --init data/wct/lite_relu4_1.pt --out models/wct_lite_relu4_1.pt
	$(LITE_WCT) --width 0.25 --level 2 --steps 2000 --out models/wct_lite_relu2_1.pt
	$(LITE_WCT) --width 0.25 --level 2 --steps 3500 --lr 5e-4 --resume --out models/wct_lite_relu2_1.pt
	$(LITE_WCT) --width 0.25 --level 2 --steps 5500 --lr 5e-4 --resume --out models/wct_lite_relu2_1.pt
	$(LITE_WCT) --width 0.25 --level 2 --steps 6000 --lr 2e-4 --resume --out models/wct_lite_relu2_1.pt
	$(LITE_WCT) --width 0.25 --level 2 --steps 8000 --lr 2e-4 --resume --out models/wct_lite_relu2_1.pt
	$(LITE_WCT) --width 0.25 --level 1 --steps 1000 --out models/wct_lite_relu1_1.pt
	$(LITE_WCT) --width 0.25 --level 1 --steps 2000 --lr 5e-4 --resume --out models/wct_lite_relu1_1.pt
