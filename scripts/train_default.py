"""Train the default U-Net on ../shared/data (the command behind `make train-default`).

Held-out city: Kampala is never seen in training; validation for early stopping and threshold tuning uses
spatial blocks of the training cities. Resumable: rerun the same command after an interruption.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from building_extractor.core.model_file import update_config  # noqa: E402
from building_extractor.core.progress import SilentProgress  # noqa: E402
from building_extractor.core.training import Trainer, TrainingOptions, TrainingSource  # noqa: E402

DESCRIPTION = ("Default building model of building_extractor: U-Net with an ImageNet-initialised EfficientNet-Lite0 "
               "encoder, trained at 0.3 m on drone orthophotos of Banepa (Nepal) and Zanzibar (Tanzania); Kampala "
               "(Uganda) held out for testing. See MODELS.md.")
ATTRIBUTION = ("Trained on OpenAerialMap imagery (CC-BY-4.0; Banepa: image 62d85d11d8499800053796c1; Zanzibar from "
               "hotosm/fAIr-utilities sample data) with building footprints (c) OpenStreetMap contributors (ODbL).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--output", default=str(ROOT / "building_extractor" / "models" / "default_unet.safetensors"))
    parser.add_argument("--checkpoints", default=str(ROOT / "build" / "train-default"))
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--max-minutes", type=float, default=85)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--patience", type=int, default=15)
    args = parser.parse_args()
    data = Path(args.data)
    sources = [
        TrainingSource(str(data / "banepa" / "train.tif"), str(data / "banepa" / "buildings.geojson"), name="banepa"),
        TrainingSource(str(data / "zanzibar" / "image_1.tif"), str(data / "zanzibar" / "buildings.geojson"),
                       name="zanzibar_1"),
        TrainingSource(str(data / "zanzibar" / "image_2.tif"), str(data / "zanzibar" / "buildings.geojson"),
                       name="zanzibar_2"),
    ]
    options = TrainingOptions(epochs=args.epochs, steps_per_epoch=args.steps, batch_size=args.batch,
                              max_minutes=args.max_minutes, threads=args.threads, device=args.device,
                              patience=args.patience)
    trainer = Trainer(sources, options, args.output, checkpoint_dir=args.checkpoints,
                      progress=SilentProgress(verbose=True))
    output = trainer.run()
    update_config(output, name="default-unet-efficientnet_lite0-0.3m", description=DESCRIPTION, attribution=ATTRIBUTION)
    print("wrote", output)


if __name__ == "__main__":
    main()
