# The two commands that do everything: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install demo models bench bench-peers peers-env bench-exports bench-learning bench-rare bench-precision lint test test-slow browser chromium clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

# The main job: U-Net on VGG16 fine-tuned on the built-in synthetic shapes, offline.
# ImageNet weights are used when they are in weights/store or the Keras cache.
DEMO_RUN ?= runs/demo
demo: install
	$(BIN)/python -m recipes.segment --dataset synthetic:shapes --model unet --backbone vgg16 \
		--encoder-weights auto --input-size 64 --synthetic-count 1000 --batch-size 8 \
		--epochs 6 --out $(DEMO_RUN) --overwrite

models: install
	$(BIN)/python -m zoo models

# Speed on this machine (about 10 minutes on 2 cores): bench.json, bench.png and a table.
bench: install
	$(BIN)/python -m benchmarks.train --out bench.json

# segmentation_models 1.0.1 (qubvel) on legacy tf_keras, in its own environment, for benchmarks.peers.
PEERS_VENV := .venv-peers
peers-env: $(PEERS_VENV)/.installed
$(PEERS_VENV)/.installed:
	test -x $(PEERS_VENV)/bin/python || $(PY) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PEERS_VENV)/bin/python -m pip install --quiet "tensorflow==2.21.0" "tf_keras==2.21.0" "segmentation-models==1.0.1"
	touch $@

# The zoo against segmentation_models and keras-hub, fresh processes alternated (about 25 minutes on 2 cores):
# bench_peers.json and a table (docs/performance.md, "Against the peers").
bench-peers: install peers-env
	$(BIN)/python -m benchmarks.peers --precision float32,auto --out bench_peers.json

# Size, export time and memory, per-image serving latency of each export format (about 1 minute): bench_exports.json.
bench-exports: install
	$(BIN)/python -m benchmarks.exports --out bench_exports.json

# Learning quality: the recipes against a plain Keras fit, 4 tasks x 3 seeds x 8 epochs (about 90 minutes on
# 2 cores; docs/performance.md, "Learning quality", has the figures, the other budgets and variants).
bench-learning: install
	$(BIN)/python -m benchmarks.learning --tasks objects,cars,shapes,faces --epochs 8 --seeds 0,1,2 \
		--variants default --out bench_learning.json

# Rare classes on synthetic:rare at the demo's budget: the defaults against what `check` recommends and OHEM (about 70 minutes).
bench-rare: install
	$(BIN)/python -m benchmarks.rare --settings default,lovasz,ohem --seeds 0,1,2 --out bench_rare.json

# Where mixed bfloat16 departs from float32, part by part, on one batch (about a minute).
bench-precision: install
	$(BIN)/python -m benchmarks.precision --out bench_precision.json

# ruff's checks and its formatter's, configured in pyproject.toml.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The fast tier: lint, then two worker processes (pytest-xdist), one per core; the files' tests stay together.
# A worker that crashes (a native abort) fails the run at once: replacing it hung xdist here.
test: lint chromium
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --max-worker-restart 0

# The long learning and guide tests (marked slow), in the same two workers.
test-slow: install
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --max-worker-restart 0 -m slow

# A run's report.html in a real browser (tests/test_report_browser.py): headless Chromium from Debian's package,
# installed first where it is missing (apt-get, as root or through sudo), driven by Playwright (the test extra);
# the test refreshes docs/images/report.png. About 2 minutes (two tiny runs).
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Debian's chromium where it is missing. Where apt cannot install it, make test goes on and says so (its two
# browser tests are then skipped, each naming why); make browser fails (ZOO_REQUIRE_BROWSER).
chromium:
	@test -x $(CHROMIUM) || { $(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } \
		|| echo "warning: could not install Debian's chromium at $(CHROMIUM): the browser tests will be skipped (make browser needs it)"

browser: install chromium
	ZOO_CHROMIUM=$(CHROMIUM) ZOO_REQUIRE_BROWSER=1 ZOO_REPORT_SCREENSHOT=docs/images/report.png \
		$(BIN)/python -m pytest -q -m browser tests/test_report_browser.py

clean:
	rm -rf $(VENV) runs *.egg-info
