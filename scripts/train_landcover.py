"""Train the Dubai land cover U-Net on ../shared/data/dubai (`make train-landcover`).

Validation by place: whole groups are held out. Group 3 is the validation group (early stopping, the scores
stored in the model file); groups 1 and 4 are never seen in training or model selection and are the test groups
that `make eval-landcover` scores. Training uses groups 5, 7 and 8. Resumable: rerun the same command after an
interruption (checkpoints in build/train-landcover/). --init-model fine-tunes an existing model (e.g. the committed one,
with a lower --learning-rate) when the checkpoints of its run are gone.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from building_extractor.core.models.model_file import update_config  # noqa: E402
from building_extractor.core.progress import SilentProgress  # noqa: E402
from building_extractor.core.train.trainers import make_trainer  # noqa: E402
from building_extractor.core.train.training import TrainingOptions, TrainingSource  # noqa: E402

DUBAI_CLASSES = [
    {"name": "building", "value": 1, "color": "#3c1098"},
    {"name": "land", "value": 2, "color": "#8429f6"},
    {"name": "road", "value": 3, "color": "#6ec1e4"},
    {"name": "vegetation", "value": 4, "color": "#fedd3a"},
    {"name": "water", "value": 5, "color": "#e2a929"},
    {"name": "unlabeled", "value": 6, "color": "#9b9b9b"},
]
TRAIN_GROUPS, VALIDATION_GROUPS, TEST_GROUPS = (5, 7, 8), (3,), (1, 4)
DESCRIPTION = ("Land cover U-Net of building_extractor (building, land, road, vegetation, water, unlabeled) with an "
               "ImageNet-initialised EfficientNet-Lite0 encoder, trained at a nominal 1 m on satellite imagery of "
               "Dubai (groups 5, 7, 8; group 3 for validation; groups 1 and 4 held out for testing). See MODELS.md.")
ATTRIBUTION = ("Trained on 'Semantic segmentation of aerial imagery' by Humans in the Loop (Dubai, imagery MBRSC), "
               "CC0 1.0.")
DEFAULT_OUTPUT = ROOT / "models" / "landcover_dubai.safetensors"


def group_source(data: Path, group: int) -> TrainingSource:
    return TrainingSource(str(data / f"tile{group}.tif"), class_raster=str(data / f"classes_tile{group}.tif"),
                          name=f"dubai_{group}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "dubai"))
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT))
    parser.add_argument("--checkpoints", default=str(ROOT / "build" / "train-landcover"))
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--chip-size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--max-minutes", type=float, default=90)
    parser.add_argument("--patience", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--init-model", default=None,
                        help="fine-tune this land cover model file (same classes) instead of starting from ImageNet")
    args = parser.parse_args()
    data = Path(args.data)
    options = TrainingOptions(gsd_m=1.0, epochs=args.epochs, steps_per_epoch=args.steps, chip_size=args.chip_size,
                              batch_size=args.batch, learning_rate=args.learning_rate, max_minutes=args.max_minutes,
                              patience=args.patience, threads=args.threads, device=args.device,
                              classes=DUBAI_CLASSES, block_size=512, init_model=args.init_model)
    trainer = make_trainer([group_source(data, g) for g in TRAIN_GROUPS], options, args.output,
                           validation=[group_source(data, g) for g in VALIDATION_GROUPS],
                           checkpoint_dir=args.checkpoints, progress=SilentProgress(verbose=True))
    output = trainer.run()
    update_config(output, name="landcover-dubai-efficientnet_lite0-1m", description=DESCRIPTION,
                  attribution=ATTRIBUTION)
    print("wrote", output)


if __name__ == "__main__":
    main()
