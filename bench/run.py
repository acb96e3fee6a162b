"""`make bench`: issue 19's speed table in one run.

- Start-up apart: QGIS's `qgis_process list` alone (a profile without the plugin), the same with the plugin
  (`bin/qgis_process list`), taking turns.
- Forward pass alone per backend (real tiles, the algorithm's default tile and batch), batch by batch in turns.
- End to end through `bin/qgis_process run` on the 800 px demo sample and 4/16/64 MP mosaics of real imagery,
  for the U-Net and the Mask R-CNN algorithm on every installed backend (onnxruntime, OpenVINO where present,
  torch), the backends taking turns per raster (which goes first alternates: the machine's speed drifts).
  Per run: wall time, the algorithm's stage times, CPU seconds (the process and its worker processes), peak
  memory as VmHWM of the QGIS process (and the highest total RSS with its worker processes), buildings.
- Speed-ups against torch in the same run, building counts against torch, and the targets of issue 19.

Writes build/bench/results.{json,md}; results.md is the table pasted into BENCHMARKS.md. About 20 minutes on
an idle 2-core machine with the defaults (the Mask R-CNN at 64 MP would add about 15: `--maskrcnn-sizes`).

Usage: .venv/bin/python bench/run.py [--sizes sample 4 16 64] [--maskrcnn-sizes sample 4 16]
       [--architectures unet maskrcnn] [--backends onnxruntime torch] [--baseline-size 16] [--device cpu]
       [--startup-runs 3]
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
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
QGIS_PROCESS = ROOT / "bin" / "qgis_process"
QGIS_PROCESS_BIN = os.environ.get("QGIS_PROCESS_BIN", "/usr/bin/qgis_process.bin")
# The Python package each backend needs (core.backends.BACKENDS names the backends).
RUNTIME_PACKAGES = {"onnxruntime": "onnxruntime", "openvino": "openvino", "torch": "torch"}
DEMO_TARGET_S, SPEEDUP_TARGET = 3.0, 2.5  # issue 19: demo wall, end-to-end speed-up over torch at 16 and 64 MP


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
                     ) -> dict[str, dict[str, Any]]:
    """Forward pass alone (real tiles, the model's tile, the algorithm's default batch size) per backend, in
    MP/s: the median of ``batches`` timed batches, with the slowest and fastest, the backends taking turns
    batch by batch (this machine's speed drifts)."""
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
                      "tile": config.tile_size, "batch": BATCH[architecture], "gsd_m": config.gsd_m,
                      "ran_on": runners[backend].description}
            for backend, v in speeds.items()}


@dataclass
class Measured:
    """One command's run: its output and what it cost."""

    output: str
    wall_s: float
    cpu_s: float  # user + system of the process and the worker processes it waited for
    peak_mb: float  # VmHWM of the process (bin/qgis_process execs QGIS in the same process)
    tree_peak_mb: float  # the highest VmRSS of the process plus its worker processes' seen


def _status_kb(pid: int, key: str) -> int:
    """A ``kB`` field of /proc/PID/status (0 once the process is gone or a zombie)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _workers(pid: int) -> list[int]:
    """The multiprocessing worker processes under ``pid`` (not other children: a fork about to exec a helper
    would count the parent's pages twice)."""
    found, stack = [], [pid]
    while stack:
        for path in glob.glob(f"/proc/{stack.pop()}/task/*/children"):
            try:
                children = [int(child) for child in open(path).read().split()]
            except (OSError, ValueError):
                continue
            stack += children
            for child in children:
                try:
                    if b"multiprocessing" in open(f"/proc/{child}/cmdline", "rb").read():
                        found.append(child)
                except OSError:
                    continue
    return found


def measured(command: list[str], env: dict[str, str] | None = None, interval_s: float = 0.05) -> Measured:
    """Run ``command``, sampling its memory every ``interval_s`` until it exits.

    Why VmHWM and not ru_maxrss: the kernel carries a forking parent's peak over exec into ru_maxrss; VmHWM is
    the process's own high-water mark. It is read until the process exits (the last ≤ 50 ms are not seen).
    """
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        peak = tree = 0
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, _status_kb(process.pid, "VmHWM"))
            tree = max(tree, sum(_status_kb(p, "VmRSS") for p in [process.pid, *_workers(process.pid)]))
            time.sleep(interval_s)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        output = log.read()
    if process.returncode:
        raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}):\n{output[-3000:]}")
    return Measured(output, wall, usage.ru_utime + usage.ru_stime, peak / 1024, max(tree, peak) / 1024)


def end_to_end(raster: Path, device: str, architecture: str, backend: str) -> dict[str, Any]:
    """extract_buildings_<architecture> through bin/qgis_process: stage times, wall, CPU, peak memory."""
    out = WORK / f"{raster.stem}_{architecture}_{backend}.gpkg"
    out.unlink(missing_ok=True)
    run = measured([str(QGIS_PROCESS), "run", f"building_extractor:extract_buildings_{architecture}",
                    f"--INPUT={raster}", f"--OUTPUT={out}", f"--DEVICE={device}", f"--BACKEND={backend}"])
    stages = dict(re.findall(r"(\w+) ([\d.]+)", re.search(r"Stage times \(s\): (.*)", run.output).group(1)))
    count = int(re.search(r"(\d+) buildings written", run.output).group(1))
    model_mp, raster_mp = map(float, re.search(r"the model computes ([\d.]+) MP for ([\d.]+) MP",
                                               run.output).groups())
    ran_on = re.search(r"buildings written by (.*?)\. Stage times", run.output).group(1)
    return {"wall_s": run.wall_s, "cpu_s": run.cpu_s, "peak_mb": run.peak_mb, "tree_peak_mb": run.tree_peak_mb,
            "buildings": count, "model_mp": model_mp, "raster_mp": raster_mp, "ran_on": ran_on,
            **{k: float(v) for k, v in stages.items()}}


def qgis_alone_env() -> dict[str, str]:
    """qgis_process's environment as bin/qgis_process sets it, but a profile in which no plugin is enabled."""
    profile = WORK / "qgis-profile-without-plugin"
    runtime = profile / "runtime"
    runtime.mkdir(parents=True, exist_ok=True)
    runtime.chmod(0o700)
    env = dict(os.environ, QGIS_CUSTOM_CONFIG_PATH=str(profile), XDG_RUNTIME_DIR=str(runtime),
               PYTHONWARNINGS="ignore::DeprecationWarning")
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env.pop("QGIS_PLUGINPATH", None)
    return env


def startup(runs: int) -> dict[str, dict[str, float]]:
    """What every qgis_process call pays before reading a pixel, QGIS's part and ours, taking turns."""
    commands = {"qgis_alone": ([QGIS_PROCESS_BIN, "list"], qgis_alone_env()),
                "with_plugin": ([str(QGIS_PROCESS), "list"], None)}
    samples: dict[str, list[Measured]] = {name: [] for name in commands}
    for turn in range(runs):
        for name in (list(commands) if turn % 2 == 0 else list(commands)[::-1]):
            command, env = commands[name]
            samples[name].append(measured(command, env))
    return {name: {"wall_s": statistics.median(m.wall_s for m in runs_),
                   "min_wall_s": min(m.wall_s for m in runs_), "max_wall_s": max(m.wall_s for m in runs_),
                   "cpu_s": statistics.median(m.cpu_s for m in runs_),
                   "peak_mb": statistics.median(m.peak_mb for m in runs_), "runs": len(runs_)}
            for name, runs_ in samples.items()}


def baseline(raster: Path) -> dict[str, float]:
    run = measured([sys.executable, str(ROOT / "bench" / "baseline.py"), str(raster), str(MODEL)])
    result = json.loads(re.search(r'\{"seconds".*\}', run.output).group(0))
    return {"wall_s": run.wall_s, "peak_mb": run.peak_mb, "polygons": result["polygons"],
            "core_s": result["seconds"]}


def installed_backends() -> list[str]:
    """The backends core.models.backends offers whose runtime is installed here."""
    from building_extractor.core.models.backends import BACKENDS

    return [backend for backend in BACKENDS if backend in RUNTIME_PACKAGES
            and importlib.util.find_spec(RUNTIME_PACKAGES[backend]) is not None]


def machine() -> dict[str, str]:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    versions = {}
    for package in RUNTIME_PACKAGES.values():
        if importlib.util.find_spec(package) is not None:
            versions[package] = getattr(__import__(package), "__version__", "?")
    gpu = "none"
    if "torch" in versions:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cpu": cpu, "cores": str(os.cpu_count()), "memory_gb": f"{memory_gb:.0f}", "gpu": gpu,
            "python": platform.python_version(), **versions,
            "started": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "load_at_start": " ".join(f"{value:.1f}" for value in os.getloadavg())}


# Markdown ---------------------------------------------------------------------------------------------------

STAGE_COLUMNS = {"unet": (("read wait", "read"), ("infer", "infer"), ("blend+write", "blend_write"),
                          ("vectorize", "vectorize"), ("post-process", "postprocess"), ("write", "write")),
                 "maskrcnn": (("read wait", "read"), ("detect", "detect"), ("merge", "merge"),
                              ("post-process", "postprocess"), ("write", "write"))}
MODEL_STAGE = {"unet": "infer", "maskrcnn": "detect"}


def label(size: str) -> str:
    return "800 px sample" if size == "sample" else f"{size} MP"


def markdown(results: dict) -> str:
    m = results["machine"]
    runtimes = ", ".join(f"{name} {m[name]}" for name in RUNTIME_PACKAGES.values() if name in m)
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, GPU: {m['gpu']}; {runtimes}, Python "
             f"{m['python']}; device {results['device']}. Run {m['started']} to {results.get('finished', '?')}; "
             f"load average (1, 5, 15 min) at the start {m['load_at_start']}, at the end "
             f"{results.get('load_at_end', '?')}. Command: `{results['command']}`.", ""]
    lines += startup_lines(results)
    for architecture, parts in results["architectures"].items():
        lines += ["", *backend_table(architecture, parts)]
        for backend, part in parts.items():
            lines += ["", f"**{architecture}, {backend}: stages**", "", *stage_table(architecture, part)]
    lines += ["", *target_lines(results)]
    return "\n".join(lines) + "\n"


def startup_lines(results: dict) -> list[str]:
    start = results.get("startup")
    if not start:
        return []
    alone, plugin = start["qgis_alone"], start["with_plugin"]
    lines = [f"**Start-up** (`qgis_process list`, median of {alone['runs']} runs each, taking turns): QGIS alone (a "
             f"profile without the plugin) **{alone['wall_s']:.2f} s** ({alone['min_wall_s']:.2f}-"
             f"{alone['max_wall_s']:.2f}; CPU {alone['cpu_s']:.2f} s); with the plugin (`bin/qgis_process list`: "
             f"the staging check and the plugin's load) **{plugin['wall_s']:.2f} s** ({plugin['min_wall_s']:.2f}-"
             f"{plugin['max_wall_s']:.2f}; CPU {plugin['cpu_s']:.2f} s): the plugin's part "
             f"{plugin['wall_s'] - alone['wall_s']:+.2f} s.", ""]
    for architecture, backend, row in demo_rows(results):
        lines.append(f"- Demo sample, {architecture} on {backend}: {row['wall_s']:.2f} s = QGIS alone "
                     f"{alone['wall_s']:.2f} + the plugin's load {plugin['wall_s'] - alone['wall_s']:.2f} + the run "
                     f"{row['wall_s'] - plugin['wall_s']:.2f} (of which the pipeline, read to write, "
                     f"{row['total']:.2f}).")
    return lines


def demo_rows(results: dict) -> list[tuple[str, str, dict]]:
    return [(architecture, backend, part["end_to_end"]["sample"])
            for architecture, parts in results["architectures"].items() for backend, part in parts.items()
            if "sample" in part["end_to_end"]]


def backend_table(architecture: str, parts: dict) -> list[str]:
    """Backends side by side per raster: wall, pipeline, model stage, CPU, memory, buildings, speed-ups."""
    backends = list(parts)
    reference = parts.get("torch", {}).get("end_to_end", {})
    lines = [f"**{architecture}: backends side by side** (the backends took turns per raster; speed-up = torch's "
             "time / this backend's, same run; buildings: count, and the difference from torch's).", "",
             "| raster | backend | wall s | pipeline s | model stage s | rest of pipeline s | CPU s | "
             "peak MB (VmHWM) | with workers MB | buildings | speed-up pipeline | speed-up wall |",
             "| --- " * 12 + "|"]
    sizes = list(dict.fromkeys(size for part in parts.values() for size in part["end_to_end"]))
    for size in sizes:
        torch_row = reference.get(size)
        for backend in backends:
            row = parts[backend]["end_to_end"].get(size)
            if row is None:
                continue
            model_s = row[MODEL_STAGE[architecture]]
            agree = ("" if torch_row is None or backend == "torch"
                     else f" ({row['buildings'] - torch_row['buildings']:+d})")
            ratio = (f"**{torch_row['total'] / row['total']:.2f}** | {torch_row['wall_s'] / row['wall_s']:.2f}"
                     if torch_row else "– | –")
            lines.append(f"| {label(size)} | {backend} | {row['wall_s']:.1f} | {row['total']:.1f} | {model_s:.1f} | "
                         f"{row['total'] - model_s:.1f} | {row['cpu_s']:.1f} | {row['peak_mb']:.0f} | "
                         f"{row['tree_peak_mb']:.0f} | {row['buildings']}{agree} | {ratio} |")
    for backend in backends:
        raw = parts[backend].get("model")
        if raw:
            lines.append(f"\nForward pass alone, {backend}: **{raw['mp_per_s']:.3f} MP/s** (median of 9 batches, "
                         f"{raw['min_mp_per_s']:.3f}-{raw['max_mp_per_s']:.3f}; tile {raw['tile']}, batch "
                         f"{raw['batch']}; {raw['ran_on']}).")
    return lines


def stage_table(architecture: str, part: dict) -> list[str]:
    stages = STAGE_COLUMNS[architecture]
    lines = ["| raster | pipeline s | MP/s | model MP (× raster) | model MP/s, same run | model share | km²/h | "
             + " | ".join(name for name, _ in stages) + " |", "| --- " * (7 + len(stages)) + "|"]
    gsd = part.get("model", {}).get("gsd_m", 0.3)
    for size, row in part["end_to_end"].items():
        total, model_s, raster_mp = row["total"], row[MODEL_STAGE[architecture]], row["raster_mp"]
        mp_s = raster_mp / total
        lines.append(f"| {label(size)} | {total:.1f} | {mp_s:.3f} | {row['model_mp']:.1f} "
                     f"(×{row['model_mp'] / raster_mp:.2f}) | {row['model_mp'] / model_s:.3f} | "
                     f"{model_s / total:.0%} | {mp_s * gsd ** 2 * 3600:.0f} | "
                     + " | ".join(f"{row.get(key, 0.0):.1f}" for _, key in stages) + " |")
    if part.get("baseline"):
        row = part["baseline"]
        lines += ["", f"Naive baseline on the {row['size']} MP raster (`bench/baseline.py`: whole image in memory, "
                      f"torch, rasterio shapes): {row['wall_s']:.1f} s, peak {row['peak_mb']:.0f} MB, "
                      f"{row['polygons']} raw polygons."]
    return lines


def target_lines(results: dict) -> list[str]:
    """Issue 19's targets against this run."""
    lines = ["**Against issue 19's targets** (this run):"]
    for architecture, parts in results["architectures"].items():
        reference = parts.get("torch", {}).get("end_to_end", {})
        for backend, part in parts.items():
            if backend == "torch":
                continue
            rows = part["end_to_end"]
            ratios = [f"{label(size)} {reference[size]['total'] / rows[size]['total']:.2f}×"
                      for size in ("16", "64") if size in rows and size in reference]
            if ratios:
                met = all(reference[s]["total"] / rows[s]["total"] >= SPEEDUP_TARGET
                          for s in ("16", "64") if s in rows and s in reference)
                lines.append(f"- {architecture}, {backend}: pipeline speed-up over torch {', '.join(ratios)} "
                             f"(target ≥ {SPEEDUP_TARGET}×: {'met' if met else 'not met'}).")
            memory = [f"{label(size)} {rows[size]['peak_mb']:.0f} vs {reference[size]['peak_mb']:.0f} MB"
                      for size in rows if size in reference]
            if memory:
                lines.append(f"- {architecture}, {backend}: peak memory vs torch: {', '.join(memory)}.")
            if "16" in rows and "64" in rows:
                lines.append(f"- {architecture}, {backend}: peak memory 64 MP / 16 MP "
                             f"{rows['64']['peak_mb'] / rows['16']['peak_mb']:.3f} (flat: ≈ 1).")
            disagree = [label(size) for size in rows if size in reference
                        and rows[size]["buildings"] != reference[size]["buildings"]]
            if reference:
                lines.append(f"- {architecture}, {backend}: building counts "
                             + ("equal to torch's on every raster." if not disagree
                                else f"differ from torch's on {', '.join(disagree)}."))
    for architecture, backend, row in demo_rows(results):
        if architecture == "unet":
            lines.append(f"- Demo sample through `bin/qgis_process`, {backend}: {row['wall_s']:.2f} s "
                         f"(target ≤ {DEMO_TARGET_S:.0f} s: {'met' if row['wall_s'] <= DEMO_TARGET_S else 'not met'}).")
    return lines


# Run ----------------------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["sample", "4", "16", "64"], help="U-Net rasters")
    parser.add_argument("--maskrcnn-sizes", nargs="+", default=["sample", "4", "16"],
                        help="Mask R-CNN rasters (64 MP adds about 15 minutes)")
    parser.add_argument("--baseline-size", default="16", help="'' for none")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--architectures", nargs="+", default=["unet", "maskrcnn"], choices=["unet", "maskrcnn"])
    parser.add_argument("--backends", nargs="+", default=None, help="default: every installed backend")
    parser.add_argument("--startup-runs", type=int, default=3)
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    results: dict = {"machine": machine(), "device": args.device, "architectures": {},
                     "command": shlex.join(["bench/run.py", *sys.argv[1:]])}
    results["startup"] = startup(args.startup_runs)
    print("start-up:", results["startup"], flush=True)
    sizes = {"unet": args.sizes, "maskrcnn": args.maskrcnn_sizes}
    for architecture in args.architectures:
        rasters = {size: SAMPLE if size == "sample" else mosaic(WORK, float(size)) for size in sizes[architecture]}
        tile_source = next((raster for size, raster in rasters.items() if size != "sample"), SAMPLE)
        # OpenVINO runs the U-Net family only (core.models.backends)
        backends = [b for b in args.backends or installed_backends() if b != "openvino" or architecture == "unet"]
        speeds = model_throughput(architecture, args.device, tile_source, backends)
        parts = {backend: {"model": speeds[backend], "end_to_end": {}} for backend in backends}
        results["architectures"][architecture] = parts
        print(architecture, "model:", speeds, flush=True)
        for turn, (size, raster) in enumerate(rasters.items()):
            # Alternate which backend goes first, so neither always meets a warmer or a busier machine.
            for backend in backends if turn % 2 == 0 else backends[::-1]:
                parts[backend]["end_to_end"][size] = end_to_end(raster, args.device, architecture, backend)
                print(architecture, backend, size, parts[backend]["end_to_end"][size], flush=True)
        if architecture == "unet" and args.baseline_size in rasters:
            first = parts[backends[0]]
            first["baseline"] = {"size": args.baseline_size, **baseline(rasters[args.baseline_size])}
            print("baseline:", first["baseline"], flush=True)
        (WORK / "results.json").write_text(json.dumps(results, indent=1))  # what is done so far
    results["finished"] = datetime.now(timezone.utc).strftime("%H:%M UTC")
    results["load_at_end"] = " ".join(f"{value:.1f}" for value in os.getloadavg())
    (WORK / "results.json").write_text(json.dumps(results, indent=1))
    (WORK / "results.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
