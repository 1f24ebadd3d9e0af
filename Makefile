# `make demo` and `make test` set everything up on a fresh machine (idempotent: a second
# run only reinstalls when requirements.txt, setup.py or pyproject.toml changed, and the demo
# only redoes the steps whose outputs are missing).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.edn-installed
DEMO   ?= .cache/demo
DEMO_MINUTES ?= 9
RUN    := $(DEMO)/weights/demo
# npm: the MMD runtime main/to_vmd.py --preview inlines (babylon-mmd on babylon.js's UMD build)
# and three.js's VMD parser (mmd-parser), an independent reader for tests/test_vmd.py; Debian's
# Chromium, which tests/test_vmd_preview.py opens the page in. Without them --preview says what
# to run and those tests skip.
NPM_STAMP := .cache/npm/.edn-installed
CHROMIUM := $(shell command -v chromium 2>/dev/null || echo /usr/bin/chromium)

.PHONY: setup demo demo-data test bench clean

setup: $(STAMP) $(NPM_STAMP)

$(STAMP): requirements.txt setup.py pyproject.toml pose_detector/openpose/pafprocess.cpp
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps -e .
	touch $@

demo-data: setup
	$(PY) -m edn.preparation.demo_data $(DEMO)

# Target person: the man on the beam seen from behind (Pose2Sim cam03), trained on his first
# 80 frames; the last 20 are held out for the verdict. Source: his motion seen by cam04.
$(RUN)/checkpoint.pt: | demo-data
	$(PY) main/train.py --target $(DEMO)/videos/cam03.mp4 --name demo --preset cpu --split 0.8 \
		--minutes $(DEMO_MINUTES) --weights-dir $(DEMO)/weights

demo: demo-data $(RUN)/checkpoint.pt
	$(PY) -m pose_detector $(DEMO)/videos/cam02.mp4 --write-json $(DEMO)/out/cam02_json --overwrite \
		--render-video $(DEMO)/out/cam02_skeleton.mp4
	$(PY) main/test.py --name demo --weights-dir $(DEMO)/weights \
		--source $(DEMO)/videos/cam04.mp4 -o $(DEMO)/out/transfer --overwrite
	$(PY) output/img2video.py $(DEMO)/out/transfer/frames -o $(DEMO)/out/transfer.mp4 \
		--side-by-side $(DEMO)/out/transfer/source $(DEMO)/out/transfer/labels
	$(PY) output/sheet.py $(DEMO)/out/transfer -o $(DEMO)/out/demo.jpg
	@echo "demo: skeleton overlay  $(DEMO)/out/cam02_skeleton.mp4"
	@echo "demo: dance transfer    $(DEMO)/out/transfer.mp4 (source | skeleton | result)"
	@echo "demo: contact sheet     $(DEMO)/out/transfer/contact_sheet.png"
	$(PY) main/evaluate.py --name demo --weights-dir $(DEMO)/weights --target $(RUN)/target_set \
		-o $(DEMO)/out/heldout --overwrite --quiet
	@echo "demo: the result        $(DEMO)/out/demo.jpg (source | skeleton | result, as docs/demo.jpg)"

$(NPM_STAMP):
	@command -v npm >/dev/null 2>&1 && npm install --silent --no-audit --no-fund --legacy-peer-deps \
		--prefix .cache/npm mmd-parser@1.0.4 babylon-mmd@1.3.0 babylonjs@9.35.0 >/dev/null 2>&1 \
		&& test -f .cache/npm/node_modules/babylonjs/babylon.js \
		&& test -f .cache/npm/node_modules/babylon-mmd/umd/babylon.mmd.min.js && touch $@ \
		|| echo "npm packages not installed: main/to_vmd.py --preview will not work and the VMD reader and browser tests will be skipped"

$(CHROMIUM):
	@(apt-get install -y -q chromium >/dev/null 2>&1 \
		|| (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1)) \
		|| echo "Debian chromium not installed: the preview's browser test will be skipped"

# demo-data: the quality gate (tests/test_quality_gate.py) trains on the demo's cam03.
test: setup demo-data $(CHROMIUM)
	$(PY) -m pytest -q

bench: setup
	$(PY) bench/pose_agreement.py
	$(PY) bench/detector_speed.py
	$(PY) bench/paf_decode.py
	$(PY) bench/openpose_speed.py
	$(PY) bench/vmd_export.py
	$(PY) bench/vmd_motion.py
	$(PY) bench/fault_soak.py
	$(PY) bench/label_speed.py
	$(PY) bench/normalization_real.py
	$(PY) bench/synthesis_speed.py
	$(PY) bench/synthesis_quality.py
	$(PY) bench/ablation.py

clean:
	rm -rf $(VENV) .cache build *.egg-info
