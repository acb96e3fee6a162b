"""Train the default U-Net or Mask R-CNN on ../shared/data (`make train-default`, `make train-default-maskrcnn`).

Held-out city: Kampala is never seen in training; validation for early stopping and threshold tuning uses
spatial blocks of the training cities. Resumable: rerun the same command after an interruption.
`--places drone` (default) is the shipped models' recipe (Banepa, Zanzibar); `--places all` adds Banepa east,
Rio (satellite) and Dubai (satellite, coarse), whose mask-derived footprints teach pixels only
(scripts/training_data.py). `--architecture` takes any network of core.models.choices.ARCHITECTURES.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from building_extractor.core.models.choices import ARCHITECTURES, ENCODERS  # noqa: E402
from building_extractor.core.models.export import export_model_file  # noqa: E402
from building_extractor.core.models.model_file import shipped_model_path, update_config  # noqa: E402
from building_extractor.core.progress import SilentProgress  # noqa: E402
from building_extractor.core.train.trainers import make_trainer  # noqa: E402
from building_extractor.core.train.training import UNET_LOSSES, TrainingOptions  # noqa: E402
from scripts.training_data import ALL, DRONE, attribution, sources  # noqa: E402

DESCRIPTION = ("Default building model of building_extractor: U-Net with an ImageNet-initialised EfficientNet-Lite0 "
               "encoder, trained at 0.3 m on drone orthophotos of Banepa (Nepal) and Zanzibar (Tanzania); Kampala "
               "(Uganda) held out for testing. See MODELS.md.")
MASKRCNN_DESCRIPTION = (
    "Default building instance model of building_extractor: Mask R-CNN with an FPN on EfficientNet-Lite0, the encoder "
    "initialised from the default U-Net, trained at 0.3 m on drone orthophotos of Banepa (Nepal) and Zanzibar "
    "(Tanzania); Kampala (Uganda) held out for testing. See MODELS.md.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--architecture", choices=ARCHITECTURES, default="unet")
    parser.add_argument("--encoder", choices=ENCODERS, default="efficientnet_lite0")
    parser.add_argument("--places", choices=("drone", "all"), default="drone",
                        help="drone: Banepa and Zanzibar (the shipped models); all: also Banepa east, Rio, Dubai")
    parser.add_argument("--output", help="default: building_extractor/models/default_<architecture>.safetensors")
    parser.add_argument("--checkpoints", help="default: build/train-default[-maskrcnn]")
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--chip-size", type=int, default=256, help="training chip size in px")
    parser.add_argument("--batch", type=int, help="default: 8 (U-Net), 4 (Mask R-CNN)")
    parser.add_argument("--learning-rate", type=float, help="default: 2e-3 (U-Net), 5e-4 (Mask R-CNN)")
    parser.add_argument("--init-model", help="Mask R-CNN default: the shipped U-Net (its encoder)")
    parser.add_argument("--max-minutes", type=float, default=85)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--patience", type=int, default=15)
    parser.add_argument("--touching-gaps", action="store_true",
                        help="U-Net: label the pixel on each side of a wall shared by two buildings as background")
    parser.add_argument("--loss", choices=UNET_LOSSES, default="bce_dice", help="U-Net training loss")
    parser.add_argument("--retune", action="store_true",
                        help="only re-tune the thresholds of the existing model file (OUTPUT) on the validation blocks")
    args = parser.parse_args()
    maskrcnn = args.architecture == "maskrcnn"
    candidate = args.places != "drone" or args.encoder != "efficientnet_lite0" or not (maskrcnn or
                                                                                      args.architecture == "unet")
    if candidate and not (args.output and args.checkpoints):
        parser.error("this trains a candidate, not the shipped recipe: give --output and --checkpoints")
    output = args.output or shipped_model_path(f"default_{args.architecture}.safetensors")
    checkpoints = args.checkpoints or str(ROOT / "build" / ("train-default-maskrcnn" if maskrcnn else "train-default"))
    init_model = args.init_model or (shipped_model_path() if maskrcnn else None)
    places = DRONE if args.places == "drone" else ALL
    training = sources(places, Path(args.data))
    options = TrainingOptions(epochs=args.epochs, steps_per_epoch=args.steps, chip_size=args.chip_size,
                              batch_size=args.batch or (4 if maskrcnn else 8),
                              learning_rate=args.learning_rate or (5e-4 if maskrcnn else 2e-3),
                              max_minutes=args.max_minutes, threads=args.threads, device=args.device,
                              patience=args.patience, architecture=args.architecture, init_model=init_model,
                              touching_gaps=args.touching_gaps, loss=args.loss, encoder=args.encoder)
    trainer = make_trainer(training, options, output, checkpoint_dir=checkpoints, progress=SilentProgress(verbose=True))
    if args.retune:
        print("re-tuned", output, trainer.retune(output))
    else:
        output = trainer.run()
        description = MASKRCNN_DESCRIPTION if maskrcnn else DESCRIPTION
        if candidate:
            description = (f"Candidate building model of building_extractor: {args.architecture} on {args.encoder}, "
                           f"trained at 0.3 m on {', '.join(places)}; Kampala held out. See MODELS.md.")
        update_config(output, name=f"default-{args.architecture}-{args.encoder}-0.3m", description=description,
                      attribution=attribution(places))
        print("wrote", output)
    # The ONNX twin (what the plugin zip ships and onnxruntime runs) always follows the safetensors file.
    print("wrote", export_model_file(output))


if __name__ == "__main__":
    main()
