# inpaintlab — every target sets itself up: `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FMNIST_DIR := /usr/share/datasets/fashion-mnist
# Extra Hydra overrides for the reproduce-* targets, e.g. `make reproduce-ga ARGS="trainer=gpu"`.
ARGS ?=
# A launcher (ARGS="hydra/launcher=slurm ...") only acts on multiruns: single-run targets then become one-job sweeps.
MULTIRUN := $(if $(findstring hydra/launcher=,$(ARGS)),-m,)
# Each reproduce-<paper> target ends with the paper's own tables: outputs/<paper>/report.md and .json
REPORT := $(BIN)/python -m inpaintlab.reports
# `make rehearse PAPER=<paper>`: one reproduce target's experiments only
PAPER ?=

.DEFAULT_GOAL := help
.PHONY: help install demo test test-slow lint fashion-mnist reproduce-ga reproduce-deepfill-v1 reproduce-deepfill-v2 \
	reproduce-crfill reproduce-context-encoder reproduce-glcic claim-glcic-postprocess reproduce-pconv claim-pconv \
	reproduce-yeh eval-yeh claim-yeh bench-train bench-data bench-attention bench-deepfill bench-crfill bench-pconv bench-yeh \
	reproduce-btgmi eval-btgmi-table3 bench-btgmi claims-btgmi reproduce-btgmi-guided claim-btgmi-guided compare compare-full compare-docs compare-check clean browser app rehearse \
	gpu-check

help: ## list every target with one line each
	@grep -hE '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "} {printf "  \033[36m%-26s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e ".[dev,app]"
	touch $(STAMP)

install: $(STAMP) ## create .venv and install inpaintlab (editable) with its dev tools and the web app's extra

fashion-mnist: ## install Debian's dataset-fashion-mnist (the demo's data) when it is missing
	@if [ -f $(FMNIST_DIR)/train-images-idx3-ubyte.gz ] || [ -f $(FMNIST_DIR)/train-images-idx3-ubyte ]; then \
	  echo "Fashion-MNIST found in $(FMNIST_DIR)"; \
	else \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq dataset-fashion-mnist; \
	fi

browser: ## install Debian's chromium and chromium-driver (the web app's real-browser test) when they are missing
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then \
	  echo "chromium and chromedriver found in /usr/bin"; \
	else \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium chromium-driver; \
	fi

app: $(STAMP) ## serve the web page on 127.0.0.1:7860: make app WEIGHTS=<run>/checkpoints/last.ckpt [ARGS='--device cuda']
	@test -n "$(WEIGHTS)" || { echo "usage: make app WEIGHTS=<run>/checkpoints/last.ckpt [ARGS='--weights b.pth --model crfill']"; exit 1; }
	$(BIN)/inpaintlab-app --weights $(WEIGHTS) $(ARGS)

demo: $(STAMP) fashion-mnist ## train ga_mnist on Fashion-MNIST for alpha=0 and 1, evaluate, write outputs/demo/
	$(BIN)/inpaintlab-demo

test: $(STAMP) browser ## run the test suite (CPU, one pytest-xdist worker per core; the web app's test drives headless chromium)
	$(BIN)/python -m pytest -q -m "not slow" -n auto --timeout 900 --durations=15 $(PYTEST_ARGS)

test-slow: $(STAMP) ## run the slow checks too (paper-claim reproductions on small budgets)
	$(BIN)/python -m pytest -q -m slow $(PYTEST_ARGS)

lint: $(STAMP) ## ruff over src and tests
	$(BIN)/ruff check src tests benchmarks experiments

reproduce-ga: $(STAMP) ## gradient-attention paper at paper scale: ga_mnist, ga_celeba, ga_celeba_adv over alpha
	$(BIN)/inpaintlab-train -m experiment=ga_mnist model.losses.inp.alpha=0,1 $(ARGS)
	$(BIN)/inpaintlab-train -m experiment=ga_celeba model.losses.inp.alpha=0,1 $(ARGS)
	$(BIN)/inpaintlab-train -m experiment=ga_celeba_adv model.losses.inp.alpha=0,0.3,1 $(ARGS)
	$(REPORT) ga $(ARGS)

reproduce-deepfill-v1: $(STAMP) ## DeepFill v1 at paper scale: deepfill_v1_places2 and deepfill_v1_celeba
	$(BIN)/inpaintlab-train $(MULTIRUN) experiment=deepfill_v1_places2 $(ARGS)
	$(BIN)/inpaintlab-train $(MULTIRUN) experiment=deepfill_v1_celeba $(ARGS)
	$(REPORT) deepfill-v1 $(ARGS)

reproduce-deepfill-v2: $(STAMP) ## DeepFill v2 at paper scale: deepfill_v2_places2 and deepfill_v2_celeba
	$(BIN)/inpaintlab-train $(MULTIRUN) experiment=deepfill_v2_places2 $(ARGS)
	$(BIN)/inpaintlab-train $(MULTIRUN) experiment=deepfill_v2_celeba $(ARGS)
	$(REPORT) deepfill-v2 $(ARGS)

reproduce-crfill: $(STAMP) ## CR-Fill at paper scale: Baseline, Baseline+CR, DeepFillv2-CA+CR (Places2), CR-Fill on ImageNet
	$(BIN)/inpaintlab-train $(MULTIRUN) experiment=crfill_baseline_places2 $(ARGS)
	$(BIN)/inpaintlab-train $(MULTIRUN) experiment=crfill_places2 $(ARGS)
	$(BIN)/inpaintlab-train $(MULTIRUN) experiment=crfill_deepfillv2_ca_cr_places2 $(ARGS)
	$(BIN)/inpaintlab-train $(MULTIRUN) experiment=crfill_imagenet $(ARGS)
	$(REPORT) crfill $(ARGS)

reproduce-context-encoder: $(STAMP) ## Context Encoder: centre (ImageNet, Paris StreetView), random region, L2-only ablation
	$(BIN)/inpaintlab-train experiment=context_encoder_imagenet_center $(ARGS)
	$(BIN)/inpaintlab-train experiment=context_encoder_paris_center $(ARGS)
	$(BIN)/inpaintlab-train experiment=context_encoder_random_region $(ARGS)
	$(BIN)/inpaintlab-train experiment=context_encoder_imagenet_center_l2 $(ARGS)
	$(REPORT) context-encoder $(ARGS)

reproduce-glcic: $(STAMP) ## GLCIC, 90k/10k/400k phases: Places2, CelebA, ImageNet; tests with and without post-processing
	$(BIN)/inpaintlab-train experiment=glcic_places2 $(ARGS)
	$(BIN)/inpaintlab-train experiment=glcic_celeba $(ARGS)
	$(BIN)/inpaintlab-train experiment=glcic_imagenet $(ARGS)
	$(REPORT) glcic $(ARGS)

claim-glcic-postprocess: $(STAMP) ## GLCIC fast marching + Poisson on real photos: seam and hole L1 with/without, ms/image
	$(BIN)/python experiments/glcic/measure_postprocess.py $(ARGS)

reproduce-pconv: $(STAMP) ## Partial Convolutions at paper scale (512², fine-tuning phase included): Places2, CelebA-HQ, ImageNet
	$(BIN)/inpaintlab-train experiment=pconv_places2 $(ARGS)
	$(BIN)/inpaintlab-train experiment=pconv_celeba_hq $(ARGS)
	$(BIN)/inpaintlab-train experiment=pconv_imagenet $(ARGS)
	$(REPORT) pconv $(ARGS)

claim-pconv: $(STAMP) fashion-mnist ## PConv vs vanilla U-Net on Fashion-MNIST 64²: hole-fill (in)dependence, into experiments/pconv/README.md
	$(BIN)/python experiments/pconv/claim_check.py --write $(ARGS)

bench-pconv: $(STAMP) ## PartialConv2d vs nn.Conv2d (64→128, 3×3, 256², multi-channel mask, batch 4, CPU): cost ratio
	$(BIN)/python benchmarks/bench_pconv.py $(ARGS)

reproduce-yeh: $(STAMP) fashion-mnist ## Yeh et al.: train the DCGAN priors of yeh_fashion_mnist (32²) and yeh_celeba (64²)
	$(BIN)/inpaintlab-train experiment=yeh_fashion_mnist $(ARGS)
	$(BIN)/inpaintlab-train experiment=yeh_celeba $(ARGS)
	$(REPORT) yeh $(ARGS)

eval-yeh: $(STAMP) ## Yeh et al.: inpaintlab-eval of CKPT=<run>/checkpoints/last.ckpt on the four mask-family suites (centre, 80 % pixels, half, pattern)
	@test -n "$(CKPT)" || { echo "usage: make eval-yeh CKPT=<run>/checkpoints/last.ckpt [ARGS='inference_options.steps=300']"; exit 1; }
	$(BIN)/inpaintlab-eval ckpt_path=$(CKPT) $(ARGS)

bench-yeh: $(STAMP) ## Yeh et al.: images/s of the 1,500-step latent search at 64², batch 1 vs 64, into experiments/yeh/README.md
	$(BIN)/python benchmarks/bench_yeh.py $(ARGS)

claim-yeh: $(STAMP) fashion-mnist ## Yeh et al. small-scale check on Fashion-MNIST 32²: pasted vs blended, weighted vs binary W
	$(BIN)/python experiments/yeh/claim_check.py $(ARGS)

reproduce-btgmi: $(STAMP) ## BTGMI at paper scale: Places2/CelebA/COCO 256², Places2 512², Sec. 4.3 ablations
	$(BIN)/inpaintlab-train experiment=btgmi_places2 $(ARGS)
	$(BIN)/inpaintlab-train experiment=btgmi_celeba $(ARGS)
	$(BIN)/inpaintlab-train experiment=btgmi_coco $(ARGS)
	$(BIN)/inpaintlab-train experiment=btgmi_places2_512 $(ARGS)
	$(BIN)/inpaintlab-train experiment=btgmi_12blocks_scratch $(ARGS)
	$(BIN)/inpaintlab-train experiment=btgmi_no_ala $(ARGS)
	$(BIN)/inpaintlab-train experiment=btgmi_l2 $(ARGS)
	$(BIN)/inpaintlab-train experiment=btgmi_vgg $(ARGS)
	$(BIN)/inpaintlab-train experiment=btgmi_conv_vanilla $(ARGS)
	$(BIN)/inpaintlab-train experiment=btgmi_conv_interpolated $(ARGS)
	$(BIN)/inpaintlab-train experiment=btgmi_conv_dilated_interpolated $(ARGS)
	$(REPORT) btgmi $(ARGS)

eval-btgmi-table3: $(STAMP) ## BTGMI Table 3 centre-hole rows: the COCO model (CKPT=<btgmi_coco run>/checkpoints/last.ckpt) on 200 ImageNet test images
	@test -n "$(CKPT)" || { echo "usage: make eval-btgmi-table3 CKPT=<btgmi_coco run>/checkpoints/last.ckpt [ARGS='data.root=...']"; exit 1; }
	$(BIN)/inpaintlab-eval experiment=btgmi_coco_imagenet_center use_run_config=false ckpt_path=$(CKPT) $(ARGS)

reproduce-btgmi-guided: $(STAMP) ## BTGMI Sec. 4.4: joint inpainting + harmonization on COCO composites (COCO_ROOT with annotations/)
	$(BIN)/inpaintlab-train $(MULTIRUN) experiment=btgmi_guided_coco $(ARGS)
	$(REPORT) btgmi-guided $(ARGS)

claim-btgmi-guided: $(STAMP) fashion-mnist ## BTGMI Sec. 4.4 check: harmonization L1 in the object, model vs paste, into experiments/btgmi/README.md
	$(BIN)/python experiments/btgmi/guided_check.py $(ARGS)

bench-btgmi: $(STAMP) ## BTGMI step time (head, head+3 blocks) and PPL / MSPAL shares, into experiments/btgmi/README.md
	$(BIN)/python benchmarks/bench_btgmi.py $(ARGS)

claims-btgmi: $(STAMP) fashion-mnist ## BTGMI small-scale claim check (growth, direct deeper net, ALA) on Fashion-MNIST 64²
	$(BIN)/python experiments/btgmi/claim_check.py $(ARGS)

bench-crfill: $(STAMP) ## CR-Fill Table 5: DeepFill v2 (CA full and restricted) vs CR-Fill forward at 512/1024/2048, into experiments/crfill/README.md
	$(BIN)/python benchmarks/bench_crfill.py $(ARGS)

bench-attention: $(STAMP) ## contextual attention alone: time, GFLOP/s vs matmul, peak memory at 256..2048
	$(BIN)/python benchmarks/bench_attention.py --sizes 256 512 1024 2048 $(ARGS)

bench-deepfill: $(STAMP) ## DeepFill v2 forward time + peak memory at 256..2048, attention full/restricted/off, the layer alone
	$(BIN)/python benchmarks/bench_deepfill.py --markdown experiments/deepfill/bench.md $(ARGS)

gpu-check: $(STAMP) ## on one CUDA GPU (~8 min on an H100): each paper trains 50 steps bf16 + channels-last (one compiled), DDP to its test stage, Table 5 timings -> docs/gpu.md (ARGS=--smoke: CPU)
	$(BIN)/python benchmarks/gpu_check.py $(ARGS)

bench-train: $(STAMP) ## one table: s/G-iteration, img/s, peak memory, time shares per family, fp32/bf16(/compile); the two aims
	$(BIN)/python benchmarks/bench_train.py $(ARGS)

bench-data: $(STAMP) ## masks/s of every mask generator at 256² and 512², DataLoader images/s with 0/1/2 workers
	$(BIN)/python benchmarks/bench_data.py

rehearse: $(STAMP) ## every experiment of every reproduce-* target end to end at toy scale (PAPER=<paper>: one target): rehearsal/
	$(BIN)/inpaintlab-rehearse $(if $(PAPER),paper=$(PAPER),) $(ARGS)

compare: $(STAMP) fashion-mnist ## smoke run of the all-methods comparison (300 iterations, 1 seed; ~11 min here): compare/results.json|md, grid.png, bars.png
	$(BIN)/inpaintlab-compare $(ARGS)

compare-full: $(STAMP) fashion-mnist ## the documented comparison (learned budget, 3 seeds; hours on 2 cores): writes docs/comparison.md's tables
	$(BIN)/inpaintlab-compare compare=fashion_mnist_64_full out=compare_full publish=docs/comparison.md $(ARGS)

compare-docs: $(STAMP) ## regenerate docs/comparison.md's tables from the committed records (docs/images/compare_*_results.json)
	for record in docs/images/compare_*_results.json; do $(BIN)/python -m inpaintlab.compare_report $$record docs/comparison.md; done

compare-check: $(STAMP) ## fail when docs/comparison.md's tables are not the current compare config's (as the default test suite does)
	$(BIN)/python -m inpaintlab.compare_report --check docs/comparison.md

clean: ## remove build artefacts and caches (keeps .venv and outputs/)
	rm -rf build dist src/*.egg-info .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
