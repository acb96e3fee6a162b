"""`make bench`: model throughput, end-to-end throughput through qgis_process, stage times, peak memory at
4/16/64 MP, and the naive baseline, on real imagery. Writes build/bench/results.{json,md}.

Usage: .venv/bin/python bench/run.py [--sizes 4 16 64] [--baseline-size 16] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.mosaic import mosaic  # noqa: E402

MODEL = ROOT / "building_extractor" / "models" / "default_unet.safetensors"
WORK = ROOT / "build" / "bench"
TIME = "/usr/bin/time"


def model_throughput(device: str, batches: int = 5) -> dict[str, float]:
    """Forward pass alone at the model's tile and the algorithm's default batch size, in MP/s."""
    import numpy as np
    import torch

    from building_extractor.core.inference import Predictor
    from building_extractor.core.models import load_model, resolve_device
    from building_extractor.core.progress import SilentProgress

    config, model = load_model(str(MODEL))
    predictor = Predictor(model, resolve_device(device), SilentProgress())
    batch = np.random.default_rng(0).normal(size=(4, 3, config.tile_size, config.tile_size)).astype(np.float32)
    predictor(batch)  # warm-up
    started = time.perf_counter()
    for _ in range(batches):
        predictor(batch)
    seconds = time.perf_counter() - started
    pixels = batches * batch.shape[0] * config.tile_size ** 2
    return {"mp_per_s": pixels / seconds / 1e6, "tile": config.tile_size, "batch": 4,
            "threads": torch.get_num_threads(), "gsd_m": config.gsd_m}


def timed(command: list[str]) -> tuple[str, float, float]:
    """Run ``command`` under GNU time: (output, wall seconds, peak RSS in MB)."""
    result = subprocess.run([TIME, "-f", "BENCH_TIME %e %M", *command], capture_output=True, text=True)
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{output[-3000:]}")
    wall, rss_kb = re.findall(r"BENCH_TIME ([\d.]+) (\d+)", output)[-1]
    return output, float(wall), int(rss_kb) / 1024


def end_to_end(raster: Path, device: str) -> dict[str, float]:
    """extract_buildings_unet through bin/qgis_process: stage times, wall time, peak RSS of the process."""
    out = WORK / f"{raster.stem}.gpkg"
    out.unlink(missing_ok=True)
    output, wall, rss = timed([str(ROOT / "bin" / "qgis_process"), "run", "building_extractor:extract_buildings_unet",
                               f"--INPUT={raster}", f"--OUTPUT={out}", f"--DEVICE={device}"])
    stages = dict(re.findall(r"(\w+) ([\d.]+)", re.search(r"Stage times \(s\): (.*)", output).group(1)))
    count = int(re.search(r"(\d+) buildings written", output).group(1))
    return {"wall_s": wall, "rss_mb": rss, "buildings": count, **{k: float(v) for k, v in stages.items()}}


def baseline(raster: Path) -> dict[str, float]:
    output, wall, rss = timed([sys.executable, str(ROOT / "bench" / "baseline.py"), str(raster), str(MODEL)])
    result = json.loads(output.strip().splitlines()[-2] if "BENCH_TIME" in output.splitlines()[-1] else output)
    return {"wall_s": wall, "rss_mb": rss, "polygons": result["polygons"], "core_s": result["seconds"]}


def machine() -> dict[str, str]:
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return {"cpu": cpu, "cores": str(os.cpu_count()), "gpu": gpu, "torch": torch.__version__,
            "python": platform.python_version(), "date": date.today().isoformat()}


def markdown(results: dict) -> str:
    m, raw = results["machine"], results["model"]
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores, GPU: {m['gpu']}; torch {m['torch']}, Python {m['python']}; "
             f"{m['date']}; device {results['device']}.", "",
             f"Model forward pass alone: **{raw['mp_per_s']:.3f} MP/s** (tile {raw['tile']}, batch {raw['batch']}, "
             f"{raw['threads']} threads).", "",
             "Wall time is the whole `bin/qgis_process run` (QGIS start-up, model load); MP/s, the ratio and km²/h use "
             "the pipeline time (read → write) on the processing-grid megapixels.", "",
             "| raster | wall s | pipeline s | MP/s | end-to-end / model | non-model share | km²/h | peak RSS MB | "
             "buildings | read wait | infer | blend+write | vectorize | post+write |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for size, row in results["end_to_end"].items():
        stage_sum = row["total"]
        mp_s = float(size) / stage_sum
        lines.append(
            f"| {size} MP | {row['wall_s']:.1f} | {stage_sum:.1f} | {mp_s:.3f} | {mp_s / raw['mp_per_s']:.2f} | "
            f"{1 - row['infer'] / stage_sum:.1%} | {mp_s * 1e6 * raw['gsd_m'] ** 2 * 3600 / 1e6:.0f} | "
            f"{row['rss_mb']:.0f} | {row['buildings']} | {row['read']:.1f} | {row['infer']:.1f} | "
            f"{row['blend_write']:.1f} | {row['vectorize']:.1f} | {row['postprocess_write']:.1f} |")
    sizes = list(results["end_to_end"])
    if len(sizes) >= 2:
        big, small = results["end_to_end"][sizes[-1]], results["end_to_end"][sizes[-2]]
        lines += ["", f"Peak RSS {sizes[-1]} MP / {sizes[-2]} MP: **{big['rss_mb'] / small['rss_mb']:.3f}**."]
    if results.get("baseline"):
        size, row = results["baseline"]["size"], results["baseline"]
        ours = results["end_to_end"][size]
        lines += ["", f"Naive baseline on the {size} MP raster: {row['wall_s']:.1f} s, peak RSS "
                      f"{row['rss_mb']:.0f} MB, {row['polygons']} raw polygons; "
                      f"ours {ours['wall_s']:.1f} s, {ours['rss_mb']:.0f} MB."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", nargs="+", default=["4", "16", "64"])
    parser.add_argument("--baseline-size", default="16")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    results: dict = {"machine": machine(), "device": args.device, "model": model_throughput(args.device),
                     "end_to_end": {}}
    print("model:", results["model"], flush=True)
    for size in args.sizes:
        raster = mosaic(WORK, float(size))
        results["end_to_end"][size] = end_to_end(raster, args.device)
        print(size, "MP:", results["end_to_end"][size], flush=True)
    if args.baseline_size and args.baseline_size in results["end_to_end"]:
        results["baseline"] = {"size": args.baseline_size, **baseline(mosaic(WORK, float(args.baseline_size)))}
        print("baseline:", results["baseline"], flush=True)
    (WORK / "results.json").write_text(json.dumps(results, indent=1))
    (WORK / "results.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
