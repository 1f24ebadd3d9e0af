# `make demo` and `make test` set everything up on a fresh machine (idempotent: a second
# run only reinstalls when requirements.txt or setup.py changed).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.edn-installed
DEMO   ?= .cache/demo

.PHONY: setup demo test bench clean

setup: $(STAMP)

$(STAMP): requirements.txt setup.py pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps -e .
	touch $@

demo: setup
	$(PY) -m edn.demo_data $(DEMO)
	$(PY) -m pose_detector $(DEMO)/videos/cam02.mp4 --write-json $(DEMO)/out/cam02_json --overwrite \
		--render-video $(DEMO)/out/cam02_skeleton.mp4
	@echo "demo: skeleton overlay video at $(DEMO)/out/cam02_skeleton.mp4"

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) bench/pose_agreement.py
	$(PY) bench/detector_speed.py

clean:
	rm -rf $(VENV) .cache build *.egg-info
