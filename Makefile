# building_extractor: QGIS Processing plugin. `make setup` then `make test`; `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV_PY := .venv/bin/python
SYS_PY := /usr/bin/python3
STAGE := $(SYS_PY) scripts/stage.py
PYTEST_ARGS ?=
export QT_QPA_PLATFORM ?= offscreen

.PHONY: help setup test test-qgis340 qt6-check stage resources doc zip lint demo serve bench train-default eval-default train-default-maskrcnn eval-default-maskrcnn train-landcover screenshot clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 16

setup:  ## install Debian packages, .venv and pip packages (idempotent)
	bash scripts/setup.sh

stage:  ## build/plugins/building_extractor: package, metadata, icon, compiled resources, help HTML
	@$(STAGE)

resources: building_extractor/resources.py  ## compile resources.qrc with pyrcc5

building_extractor/resources.py: resources.qrc building_extractor/icons/icon.svg
	@$(STAGE) --quiet

doc:  ## render help/*.md into help/html/ and the staged plugin
	@$(STAGE)

test: stage  ## run the whole test suite headless (QT_QPA_PLATFORM=offscreen)
	$(VENV_PY) -m pytest $(PYTEST_ARGS)

zip: stage  ## dist/building_extractor-<version>.zip for "Install from ZIP", checked against the plugin repository's rules
	@$(STAGE) --quiet --zip
	$(SYS_PY) scripts/check_plugin_zip.py dist/building_extractor-$$(sed -n 's/^version=//p' metadata.txt).zip

lint: qt6-check  ## ruff on the code, and the Qt 6 / QGIS 4 migration check
	$(VENV_PY) -m ruff check building_extractor tests bench scripts service

qt6-check:  ## QGIS's PyQt5 -> PyQt6 migration tool (qgis-pyqt5to6) must find nothing to change
	bash scripts/qt6_check.sh

QGIS340_TESTS ?=
test-qgis340:  ## the QGIS 3.40 subset of the tests in a cached Debian 13 root (root; debootstrap, chroot)
	bash scripts/qgis340.sh test $(QGIS340_TESTS)

demo: stage  ## extract buildings from the shipped sample into build/demo/buildings.gpkg
	@mkdir -p build/demo
	rm -f build/demo/buildings.gpkg
	bin/qgis_process run building_extractor:extract_buildings_unet \
	  --INPUT=data/sample/banepa_sample.tif --OUTPUT=build/demo/buildings.gpkg

serve: stage  ## web service (OGC API - Processes, WPS) on 127.0.0.1:SERVICE_PORT (8080) with its own Redis
	exec $(VENV_PY) service/serve.py

bench: stage  ## end-to-end benchmarks (bench/run.py)
	$(VENV_PY) bench/run.py

FT384 = --chip-size 384 --batch 6 --learning-rate 5e-4 --max-minutes 70 --patience 12
train-default:  ## train the shipped default model (long: CPU hours): base run, fine-tune on 384 px chips, average, tune
	$(VENV_PY) scripts/train_default.py --output build/train-default/base.safetensors
	$(VENV_PY) scripts/train_default.py --init-model build/train-default/base.safetensors $(FT384) \
	  --checkpoints build/train-default-ft384 --output build/train-default/ft384.safetensors
	$(VENV_PY) scripts/average_models.py build/train-default/base.safetensors build/train-default/ft384.safetensors \
	  --output building_extractor/models/default_unet.safetensors
	$(VENV_PY) scripts/train_default.py --retune

eval-default: stage  ## score the shipped model on the held-out city (Kampala) with evaluate_buildings
	$(VENV_PY) scripts/evaluate_default.py

train-default-maskrcnn:  ## train the shipped Mask R-CNN (long: CPU hours; encoder from the default U-Net)
	$(VENV_PY) scripts/train_default.py --architecture maskrcnn --max-minutes 70

eval-default-maskrcnn: stage  ## score the shipped Mask R-CNN on the held-out city (Kampala)
	$(VENV_PY) scripts/evaluate_default.py --architecture maskrcnn

train-landcover:  ## train the Dubai land cover U-Net into models/ (long: CPU hours; resumable, build/train-landcover/)
	nice -n 10 $(VENV_PY) scripts/train_landcover.py

screenshot: stage  ## real QGIS desktop under Xvfb: Toolbox, algorithm and batch dialogs in build/screenshots/, help images
	$(VENV_PY) scripts/desktop_screenshot.py --scenarios toolbox,dialog,batch --screenshots build/screenshots
	cp build/screenshots/toolbox.png help/images/toolbox.png
	cp build/screenshots/dialog.png help/images/dialog_run.png
	if [ -f build/screenshots/batch.png ]; then cp build/screenshots/batch.png help/images/batch_dialog.png; fi
	$(VENV_PY) scripts/make_quickstart_figure.py
	if [ -d ../shared/data/alexandria ]; then $(VENV_PY) scripts/render_3d_view.py; fi

clean:  ## remove build outputs (keeps .venv and build/*.log)
	rm -rf build/plugins build/qgis-profile build/qgis-desktop build/screenshots build/demo dist help/html \
	  building_extractor/resources.py .pytest_cache .ruff_cache
	find . -path ./.venv -prune -o -name __pycache__ -type d -print0 | xargs -0 rm -rf
