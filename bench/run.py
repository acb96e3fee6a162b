"""`make bench`: model throughput, end-to-end throughput through qgis_process, stage times, peak memory on the
800 px demo sample and at 4/16/64 MP, and the naive baseline, on real imagery, for the U-Net and the Mask R-CNN
algorithms, each on the onnxruntime and the torch backend (alternating within the run: the machine's speed
drifts). Writes build/bench/results.{json,md}.

Usage: .venv/bin/python bench/run.py [--sizes sample 4 16 64] [--baseline-size 16] [--device cpu]
                                     [--architectures unet maskrcnn] [--backends onnxruntime torch]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.mosaic import mosaic  # noqa: E402

MODEL = ROOT / "building_extractor" / "models" / "default_unet.safetensors"
MODELS = {"unet": MODEL, "maskrcnn": ROOT / "building_extractor" / "models" / "default_maskrcnn.safetensors"}
SAMPLE = ROOT / "data" / "sample" / "banepa_sample.tif"  # the demo's raster ("sample" in --sizes)
BATCH = {"unet": 1, "maskrcnn": 2}  # the algorithms' default BATCH_SIZE
WORK = ROOT / "build" / "bench"
TIME = "/usr/bin/time"


def real_batch(raster: Path, config: Any, batch: int) -> Any:
    """The first ``batch`` tiles of a real raster, normalised as the pipeline does (detections need real
    buildings: random noise would make the Mask R-CNN's heads idle)."""
    from building_extractor.core.extract.inference import TileReader
    from building_extractor.core.extract.tiling import make_tiles
    from building_extractor.core.io.raster_source import RasterSource
    from building_extractor.core.progress import SilentProgress

    with RasterSource(str(raster), 0, None, config.band_count) as source:
        tiles = [t for row in make_tiles(source.grid.width, source.grid.height, config.tile_size, config.overlap)
                 for t in row][:batch]
        return next(TileReader(source, config, config.tile_size, batch, tiles, SilentProgress()).batches()).images


def model_throughput(architecture: str, device: str, raster: Path, backends: list[str], batches: int = 9
                     ) -> dict[str, dict[str, float]]:
    """Forward pass alone (real tiles, the model's tile, the algorithm's default batch size) per backend, in
    MP/s: the median of ``batches`` timed batches, with the slowest and fastest, the backends taking turns
    batch by batch (this machine's speed drifts)."""
    import torch

    from building_extractor.core.models.backends import open_model

    runners = {backend: open_model(str(MODELS[architecture]), architecture, backend, device)
               for backend in backends}
    config = next(iter(runners.values())).config
    batch = real_batch(raster, config, BATCH[architecture])
    speeds: dict[str, list[float]] = {backend: [] for backend in backends}
    for runner in runners.values():
        runner(batch)  # warm-up
    for _ in range(batches):
        for backend, runner in runners.items():
            started = time.perf_counter()
            runner(batch)
            speeds[backend].append(batch.shape[0] * config.tile_size ** 2 / (time.perf_counter() - started) / 1e6)
    return {backend: {"mp_per_s": statistics.median(v), "min_mp_per_s": min(v), "max_mp_per_s": max(v),
                      "tile": config.tile_size, "batch": BATCH[architecture], "threads": torch.get_num_threads(),
                      "gsd_m": config.gsd_m, "ran_on": runners[backend].description}
            for backend, v in speeds.items()}


def timed(command: list[str]) -> tuple[str, float, float]:
    """Run ``command`` under GNU time: (output, wall seconds, peak RSS in MB)."""
    result = subprocess.run([TIME, "-f", "BENCH_TIME %e %M", *command], capture_output=True, text=True)
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{output[-3000:]}")
    wall, rss_kb = re.findall(r"BENCH_TIME ([\d.]+) (\d+)", output)[-1]
    return output, float(wall), int(rss_kb) / 1024


def end_to_end(raster: Path, device: str, architecture: str = "unet", backend: str = "auto") -> dict[str, float]:
    """extract_buildings_<architecture> through bin/qgis_process: stage times, wall time, peak RSS."""
    out = WORK / f"{raster.stem}_{architecture}_{backend}.gpkg"
    out.unlink(missing_ok=True)
    output, wall, rss = timed([str(ROOT / "bin" / "qgis_process"), "run",
                               f"building_extractor:extract_buildings_{architecture}",
                               f"--INPUT={raster}", f"--OUTPUT={out}", f"--DEVICE={device}",
                               f"--BACKEND={backend}"])
    stages = dict(re.findall(r"(\w+) ([\d.]+)", re.search(r"Stage times \(s\): (.*)", output).group(1)))
    count = int(re.search(r"(\d+) buildings written", output).group(1))
    model_mp, raster_mp = map(float, re.search(r"the model computes ([\d.]+) MP for ([\d.]+) MP", output).groups())
    return {"wall_s": wall, "rss_mb": rss, "buildings": count, "model_mp": model_mp, "raster_mp": raster_mp,
            **{k: float(v) for k, v in stages.items()}}


def baseline(raster: Path) -> dict[str, float]:
    output, wall, rss = timed([sys.executable, str(ROOT / "bench" / "baseline.py"), str(raster), str(MODEL)])
    result = json.loads(output.strip().splitlines()[-2] if "BENCH_TIME" in output.splitlines()[-1] else output)
    return {"wall_s": wall, "rss_mb": rss, "polygons": result["polygons"], "core_s": result["seconds"]}


def machine() -> dict[str, str]:
    import onnxruntime
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return {"cpu": cpu, "cores": str(os.cpu_count()), "gpu": gpu, "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__, "python": platform.python_version(),
            "date": date.today().isoformat()}


STAGE_COLUMNS = {"unet": (("read wait", "read"), ("infer", "infer"), ("blend+write", "blend_write"),
                          ("vectorize", "vectorize"), ("post-process", "postprocess"), ("write", "write")),
                 "maskrcnn": (("read wait", "read"), ("detect", "detect"), ("merge", "merge"),
                              ("post-process", "postprocess"), ("write", "write"))}
MODEL_STAGE = {"unet": "infer", "maskrcnn": "detect"}


def markdown(results: dict) -> str:
    m = results["machine"]
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores, GPU: {m['gpu']}; torch {m['torch']}, onnxruntime "
             f"{m['onnxruntime']}, Python {m['python']}; {m['date']}; device {results['device']}.", "",
             "Wall time is the whole `bin/qgis_process run` (QGIS start-up, model load); MP/s, the ratio and km²/h use "
             "the pipeline time (read → write) on the processing-grid megapixels."]
    if results.get("startup"):
        row = results["startup"]
        lines += ["", f"Start-up alone (`bin/qgis_process help building_extractor:extract_buildings_unet`: QGIS, "
                      f"the plugin, no model): {row['wall_s']:.1f} s wall, peak RSS {row['rss_mb']:.0f} MB."]
    for architecture, parts in results["architectures"].items():
        lines += ["", *backend_table(architecture, parts)]
        for backend, part in parts.items():
            lines += ["", f"### {architecture}, {backend}", "", *architecture_table(architecture, part)]
    return "\n".join(lines) + "\n"


def backend_table(architecture: str, parts: dict) -> list[str]:
    """Backends side by side per raster (run alternately): wall, pipeline time, memory, buildings, speed-up."""
    backends = list(parts)
    first = parts[backends[0]]["end_to_end"]
    lines = [f"**{architecture}: backends side by side** (runs alternating per raster; speed-up = torch pipeline "
             "time / this backend's, and torch wall / this wall).", "",
             "| raster | backend | wall s | pipeline s | model stage s | peak RSS MB | buildings | "
             "speed-up pipeline | speed-up wall |", "| --- " * 9 + "|"]
    for size in first:
        torch_row = parts.get("torch", {}).get("end_to_end", {}).get(size)
        for backend in backends:
            row = parts[backend]["end_to_end"][size]
            ratio = (f"{torch_row['total'] / row['total']:.2f} | {torch_row['wall_s'] / row['wall_s']:.2f}"
                     if torch_row else "– | –")
            lines.append(f"| {label(size)} | {backend} | {row['wall_s']:.1f} | {row['total']:.1f} | "
                         f"{row[MODEL_STAGE[architecture]]:.1f} | {row['rss_mb']:.0f} | {row['buildings']} | {ratio} |")
    for backend in backends:
        raw = parts[backend]["model"]
        lines.append(f"\nForward pass alone, {backend}: **{raw['mp_per_s']:.3f} MP/s** (median of 9, "
                     f"{raw['min_mp_per_s']:.3f}-{raw['max_mp_per_s']:.3f}; {raw['ran_on']}).")
    return lines


def label(size: str) -> str:
    return "800 px sample" if size == "sample" else f"{size} MP"


def architecture_table(architecture: str, part: dict) -> list[str]:
    raw, stages = part["model"], STAGE_COLUMNS[architecture]
    spread = f", {raw['min_mp_per_s']:.3f}-{raw['max_mp_per_s']:.3f} across batches" if "min_mp_per_s" in raw else ""
    lines = [f"**{architecture}** forward pass alone: **{raw['mp_per_s']:.3f} MP/s** (median{spread}; real tiles, "
             f"tile {raw['tile']}, batch {raw['batch']}, {raw['threads']} threads).",
             "Same run: the model's speed during the run itself (model MP / model stage s), immune to this "
             "machine's drift between runs; ratio = (1 - non-model share) / (model MP / raster MP).", "",
             "| raster | wall s | pipeline s | MP/s | model MP (× raster) | model MP/s, same run | "
             "end-to-end / model, same run | end-to-end / model alone | non-model share | km²/h | peak RSS MB | "
             "buildings | " + " | ".join(name for name, _ in stages) + " |",
             "| --- " * (12 + len(stages)) + "|"]
    for size, row in part["end_to_end"].items():
        total, model_s, raster_mp = row["total"], row[MODEL_STAGE[architecture]], row["raster_mp"]
        mp_s, in_run = raster_mp / total, row["model_mp"] / model_s
        lines.append(
            f"| {label(size)} | {row['wall_s']:.1f} | {total:.1f} | {mp_s:.3f} | {row['model_mp']:.1f} "
            f"(×{row['model_mp'] / raster_mp:.2f}) | {in_run:.3f} | **{mp_s / in_run:.2f}** | "
            f"{mp_s / raw['mp_per_s']:.2f} | {1 - model_s / total:.1%} | "
            f"{mp_s * 1e6 * raw['gsd_m'] ** 2 * 3600 / 1e6:.0f} | "
            f"{row['rss_mb']:.0f} | {row['buildings']} | " + " | ".join(f"{row[key]:.1f}" for _, key in stages) + " |")
    sizes = [size for size in part["end_to_end"] if size != "sample"]
    if len(sizes) >= 2:
        big, small = part["end_to_end"][sizes[-1]], part["end_to_end"][sizes[-2]]
        lines += ["", f"Peak RSS {sizes[-1]} MP / {sizes[-2]} MP: **{big['rss_mb'] / small['rss_mb']:.3f}**."]
    if part.get("baseline"):
        size, row = part["baseline"]["size"], part["baseline"]
        ours = part["end_to_end"][size]
        lines += ["", f"Naive baseline on the {size} MP raster: {row['wall_s']:.1f} s, peak RSS "
                      f"{row['rss_mb']:.0f} MB, {row['polygons']} raw polygons; "
                      f"ours {ours['wall_s']:.1f} s, {ours['rss_mb']:.0f} MB."]
    return lines


def startup() -> dict[str, float]:
    """QGIS and the plugin starting, no model: what every qgis_process run pays before reading a pixel."""
    _, wall, rss = timed([str(ROOT / "bin" / "qgis_process"), "help", "building_extractor:extract_buildings_unet"])
    return {"wall_s": wall, "rss_mb": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", nargs="+", default=["sample", "4", "16", "64"])
    parser.add_argument("--baseline-size", default="16")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--architectures", nargs="+", default=["unet", "maskrcnn"], choices=["unet", "maskrcnn"])
    parser.add_argument("--backends", nargs="+", default=["onnxruntime", "torch"], choices=["onnxruntime", "torch"])
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    results: dict = {"machine": machine(), "device": args.device, "architectures": {}, "startup": startup()}
    rasters = {size: SAMPLE if size == "sample" else mosaic(WORK, float(size)) for size in args.sizes}
    tile_source = next(raster for size, raster in rasters.items() if size != "sample")
    for architecture in args.architectures:
        speeds = model_throughput(architecture, args.device, tile_source, args.backends)
        parts = {backend: {"model": speeds[backend], "end_to_end": {}} for backend in args.backends}
        results["architectures"][architecture] = parts
        print(architecture, "model:", speeds, flush=True)
        for turn, (size, raster) in enumerate(rasters.items()):
            # Alternate which backend goes first, so neither always meets a warmer or a busier machine.
            for backend in args.backends if turn % 2 == 0 else args.backends[::-1]:
                parts[backend]["end_to_end"][size] = end_to_end(raster, args.device, architecture, backend)
                print(architecture, backend, size, parts[backend]["end_to_end"][size], flush=True)
        if architecture == "unet" and args.baseline_size in rasters:
            first = parts[args.backends[0]]
            first["baseline"] = {"size": args.baseline_size, **baseline(rasters[args.baseline_size])}
            print("baseline:", first["baseline"], flush=True)
    (WORK / "results.json").write_text(json.dumps(results, indent=1))
    (WORK / "results.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
