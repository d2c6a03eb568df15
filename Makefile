# SeeFood: two commands on a fresh clone: `make demo` and `make test`.
# Every target sets up its own environment in .venv/ (re-done when pyproject.toml changes).

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.seefood-installed
DEMO_DIR ?= demo
DEMO_EPOCHS ?= 30
CAMERA ?=
PYTEST_ARGS ?=

export QT_QPA_PLATFORM_PLUGIN_PATH :=
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: setup test demo bench package package-test clean help

help:
	@echo "make demo     train on generated demo data, export, verify, open the app"
	@echo "make test     run the test suite"
	@echo "make bench    measure speed and memory, write bench/RESULTS.md"
	@echo "make package  build the desktop app folder (no TensorFlow inside)"

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=python3.x'"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[train,app,dev]'
	# MediaPipe (used only to prove bundles load in the phone runtime) without its GUI OpenCV.
	$(BIN)/python -m pip install --quiet --no-deps mediapipe==1.2.2 sounddevice==0.5.6
	$(BIN)/python -c "import cv2, PySide6, tensorflow, ai_edge_litert, mediapipe" 2>/dev/null \
		|| { echo "error: the environment in $(VENV) is incomplete; delete it and run make setup again"; exit 1; }
	touch $@

test: setup
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

demo: setup
	$(BIN)/seefood demo --dir $(DEMO_DIR) --epochs $(DEMO_EPOCHS) $(if $(CAMERA),--camera $(CAMERA),)

bench: setup
	$(BIN)/python -m bench.run

package: setup
	$(BIN)/python -m pip install --quiet -e '.[package]'
	$(BIN)/python packaging/build_desktop.py --bundle $(DEMO_DIR)/bundle

package-test: package
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -m slow tests/test_packaging_build.py

clean:
	rm -rf build dist packaging/dist packaging/build
