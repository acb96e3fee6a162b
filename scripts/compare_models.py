"""Compare architectures and losses under one budget, validated by place (the MODELS.md comparison table).

Every run trains on the same places with the same seed, so the same chips in the same order, for the same
number of steps (a step budget is the same for every run on a busy machine; the CPU seconds each run took are
recorded beside it). One city is held out (`--hold-out`; leave-one-city-out is one call per city): early
stopping and thresholds use validation blocks of the training cities, and the scores are pixel IoU and
building F1 (one-to-one at IoU >= 0.5) of the extraction pipeline on the held-out city's labelled images,
plus the model's speed in onnxruntime (torch where the ONNX export is not installed) on a real 512 px tile.

Resumable: each run lives in OUT/<hold-out>/<run>/ (trainer checkpoints after every epoch, the model file,
result.json); rerunning the same command skips finished runs and resumes an interrupted one. Larger budgets
(`--epochs`, `--steps`, `--device cuda`) use other OUT folders. Examples:

    .venv/bin/python scripts/compare_models.py --hold-out kampala --epochs 6 --steps 8       # the default runs
    .venv/bin/python scripts/compare_models.py --hold-out kampala --runs plinknet:bce_dice --seeds 1
    .venv/bin/python scripts/compare_models.py --hold-out kampala --table                     # table only
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from building_extractor.core.models.choices import ARCHITECTURES, ENCODERS, SEGMENTATION  # noqa: E402
from building_extractor.core.train.trainers import make_trainer  # noqa: E402
from building_extractor.core.train.training import UNET_LOSSES, TrainingOptions  # noqa: E402
from scripts.training_data import ALL, DATA, DRONE, EVALUATION_IMAGES, HELD_OUT_CITIES, sources  # noqa: E402

SEGMENTATION_NETWORKS = [name for name, a in ARCHITECTURES.items() if a.task == SEGMENTATION]
# Each architecture with BCE + Dice, and U-Net with each loss (the studies' two comparisons).
DEFAULT_RUNS = [f"{a}:bce_dice" for a in SEGMENTATION_NETWORKS] + \
    [f"unet:{loss}" for loss in UNET_LOSSES if loss != "bce_dice"]
SPEED_TILE = 512


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hold-out", choices=HELD_OUT_CITIES, default="kampala")
    parser.add_argument("--places", choices=("drone", "all"), default="all", help="training data (training_data.py)")
    parser.add_argument("--runs", nargs="+", default=DEFAULT_RUNS, help="ARCHITECTURE:LOSS pairs")
    parser.add_argument("--encoder", choices=ENCODERS, default="efficientnet_lite0")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--steps", type=int, default=8, help="steps (batches) per epoch")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--chip-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=str(ROOT / "build" / "compare"))
    parser.add_argument("--table", action="store_true", help="only print the table of the finished runs")
    return parser.parse_args()


def run_name(run: str, encoder: str, seed: int) -> str:
    architecture, loss = run.split(":")
    return f"{architecture}-{encoder}-{loss}-seed{seed}"


def train(run: str, args: argparse.Namespace, seed: int, folder: Path) -> Path:
    """Train (or resume) one run; returns its model file."""
    architecture, loss = run.split(":")
    model = folder / "model.safetensors"
    if model.exists():
        return model
    places = DRONE if args.places == "drone" else ALL
    options = TrainingOptions(architecture=architecture, encoder=args.encoder, loss=loss, seed=seed,
                              epochs=args.epochs, steps_per_epoch=args.steps, batch_size=args.batch,
                              chip_size=args.chip_size, block_size=args.chip_size, threads=args.threads,
                              device=args.device, patience=args.epochs)
    from building_extractor.core.progress import SilentProgress

    trainer = make_trainer(sources(places, DATA, exclude=HELD_OUT_CITIES[args.hold_out]), options, str(model),
                           checkpoint_dir=str(folder / "checkpoints"), progress=SilentProgress(verbose=True))
    started = time.process_time()
    trainer.run()
    # CPU seconds of this process only: a resumed run adds its parts.
    (folder / "cpu_seconds.json").write_text(json.dumps({"train": cpu_seconds(folder) + time.process_time() - started}))
    return model


def cpu_seconds(folder: Path) -> float:
    """CPU seconds the run's training took (0 when not recorded)."""
    spent = folder / "cpu_seconds.json"
    return json.loads(spent.read_text())["train"] if spent.exists() else 0.0


def score(model: Path, city: str, folder: Path) -> dict:
    """Pixel and building counts of the extraction pipeline on the held-out city's labelled images, summed."""
    from osgeo import gdal
    from shapely import wkb

    from building_extractor.core.evaluate.metrics import PolygonSet, evaluate, read_polygon_set
    from building_extractor.core.extract.pipeline import ExtractionOptions, ExtractionRun, extract_buildings
    from building_extractor.core.progress import SilentProgress

    totals = {"tp_px": 0, "fp_px": 0, "fn_px": 0, "tp": 0, "fp": 0, "fn": 0}
    for relative in EVALUATION_IMAGES[city]:
        image = DATA / relative
        run = ExtractionRun(None)
        options = ExtractionOptions(str(model), device="cpu", workdir=str(folder))
        found = [wkb.loads(b.wkb) for b in extract_buildings(str(image), options, SilentProgress(), run)]
        dataset = gdal.Open(str(image))
        x0, dx, _, y0, _, dy = dataset.GetGeoTransform()
        bounds = (x0, y0 + dy * dataset.RasterYSize, x0 + dx * dataset.RasterXSize, y0)
        crs = dataset.GetProjection()
        reference = read_polygon_set(str(image.parent / "buildings.geojson"), name="reference")
        result = evaluate(PolygonSet(found, crs, name="predicted"), reference, extent=(bounds, crs)).to_dict()
        for key in ("tp_px", "fp_px", "fn_px"):
            totals[key] += result["pixel"][key]
        for key in ("tp", "fp", "fn"):
            totals[key] += result["building"]["0.5"][key]
    iou = totals["tp_px"] / max(1, totals["tp_px"] + totals["fp_px"] + totals["fn_px"])
    f1 = 2 * totals["tp"] / max(1, 2 * totals["tp"] + totals["fp"] + totals["fn"])
    return {"pixel_iou": round(iou, 4), "building_f1": round(f1, 4), **totals}


def speed(model: Path, folder: Path, repeats: int = 5) -> dict:
    """Megapixels per second of the bare network on a real 512 px Kampala tile (median of ``repeats``), one
    thread: onnxruntime when the project's ONNX export is there, else torch."""
    import numpy as np
    from osgeo import gdal

    tile = gdal.Open(str(DATA / "kampala" / "image_1.tif")).ReadAsArray(0, 0, SPEED_TILE, SPEED_TILE)
    batch = ((tile[None, :3].astype(np.float32) / 255.0) - 0.5) / 0.5
    try:
        import onnxruntime

        from building_extractor.core.models.export import export_model_file
    except ImportError:
        onnxruntime = None
    if onnxruntime is not None:
        path = export_model_file(str(model), str(folder / "model.onnx"))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        batch = batch.astype(session.get_inputs()[0].type == "tensor(float16)" and np.float16 or np.float32)
        forward, runtime = (lambda: session.run(None, {name: batch})), f"onnxruntime {onnxruntime.__version__}"
    else:
        import torch

        from building_extractor.core.models.builders import load_model

        torch.set_num_threads(1)
        _, network = load_model(str(model))
        x = torch.from_numpy(batch)

        def forward() -> None:
            with torch.inference_mode():
                network(x)
        runtime = f"torch {torch.__version__}"
    forward()  # warm-up
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        forward()
        seconds.append(time.perf_counter() - started)
    return {"mp_per_s": round(SPEED_TILE * SPEED_TILE / 1e6 / float(np.median(seconds)), 3), "runtime": runtime}


def table(out: Path) -> str:
    rows = [json.loads(p.read_text()) for p in sorted(out.glob("*/result.json"))]
    lines = ["| architecture | loss | seed | held-out pixel IoU | held-out building F1 | val IoU | val building F1 "
             "| MP/s (1 thread) | train CPU s |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in sorted(rows, key=lambda r: (-r["building_f1"], r["run"])):
        lines.append(f"| {r['architecture']} | {r['loss']} | {r['seed']} | {r['pixel_iou']:.3f} | "
                     f"{r['building_f1']:.3f} | {r['val_iou']:.3f} | {r['val_building_f1']:.3f} | "
                     f"{r['mp_per_s']:.2f} | {r['train_cpu_seconds']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    out = Path(args.out) / args.hold_out
    out.mkdir(parents=True, exist_ok=True)
    if not args.table:
        for seed in args.seeds:
            for run in args.runs:
                folder = out / run_name(run, args.encoder, seed)
                if (folder / "result.json").exists():
                    continue
                folder.mkdir(exist_ok=True)
                model = train(run, args, seed, folder)
                from building_extractor.core.models.model_file import read_config

                config = read_config(model)
                result = {"run": folder.name, "architecture": run.split(":")[0], "loss": run.split(":")[1],
                          "encoder": args.encoder, "seed": seed, "hold_out": args.hold_out, "places": args.places,
                          "epochs": args.epochs, "steps": args.steps, "batch": args.batch,
                          "chip_size": args.chip_size, "val_iou": config.metrics.get("val_iou", 0.0),
                          "val_building_f1": config.metrics.get("val_building_f1", 0.0),
                          "train_cpu_seconds": cpu_seconds(folder),
                          **score(model, args.hold_out, folder), **speed(model, folder)}
                (folder / "result.json").write_text(json.dumps(result, indent=1))
                print(json.dumps(result), flush=True)
    text = table(out)
    (out / "table.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
