"""Dask scale-out on this machine: one process with 2 torch threads vs a LocalCluster of 1 or 2 single-threaded
workers, the scheduler's overhead per partition (many small partitions), memory per worker and on the client.

Each configuration runs in its own subprocess (so peak RSS is its own), in alternating order over ``--rounds``.
The machine is shared and noisy: compare configurations within one round.

Usage: .venv/bin/python bench/dask_scale.py [--megapixels 4] [--partition 1024] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORK = ROOT / "build" / "bench" / "dask"
CONFIGS = {
    "process_2_threads": {},
    "cluster_1x1": {"workers": 1, "threads_per_worker": 1},
    "cluster_2x1": {"workers": 2, "threads_per_worker": 1},
    "cluster_1x2": {"workers": 1, "threads_per_worker": 2},
}


def run_one(name: str, raster: str, partition: int, halo: int | None) -> dict:
    """One configuration in this process; returns timings, partitions, task seconds and peak memory."""
    from building_extractor.api import extract
    from building_extractor.core.progress import SilentProgress

    output = WORK / f"{name}.gpkg"
    for leftover in (output, Path(str(output) + ".partial.gpkg")):
        leftover.unlink(missing_ok=True)
    config = CONFIGS.get(name, {"workers": 2, "threads_per_worker": 1})
    tasks: list[float] = []
    moments: dict[str, float] = {}

    class Progress(SilentProgress):
        def info(self, message: str) -> None:
            if message.startswith("Dask"):
                moments["ready"] = time.perf_counter()
            if message.startswith("Partition"):
                tasks.append(float(message.split("(")[1].split(" s)")[0]))
                moments["last"] = time.perf_counter()

    workers_rss: dict = {}
    started = time.perf_counter()
    if config:
        import distributed

        original = distributed.Client.close

        def close(client, *args, **kwargs):  # peak RSS of each worker, read just before the cluster stops
            try:
                workers_rss.update(client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
            except Exception:  # noqa: BLE001 - measurement only
                pass
            return original(client, *args, **kwargs)

        distributed.Client.close = close
        summary = extract(raster, str(output), scheduler="local", workers=config["workers"],
                          threads_per_worker=config["threads_per_worker"], partition_size=partition, halo=halo,
                          resume=False, dashboard_address=None, progress=Progress())
    else:
        import torch

        torch.set_num_threads(2)
        summary = extract(raster, str(output), progress=Progress())
    wall = time.perf_counter() - started
    busy = moments.get("last", 0.0) - moments.get("ready", 0.0)  # cluster up to the last partition written
    return {"config": name, "wall_s": round(wall, 1), "cluster_busy_s": round(busy, 1),
            "buildings": summary.building_count, "partitions": summary.partitions, "task_s": tasks,
            "client_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "worker_peak_mb": sorted(round(v / 1024) for v in workers_rss.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megapixels", type=float, default=4.0)
    parser.add_argument("--partition", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--small-partition", type=int, default=256, help="for the overhead run (halo 0)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--raster", help=argparse.SUPPRESS)
    parser.add_argument("--halo", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    if args.one:
        print(json.dumps(run_one(args.one, args.raster, args.partition, args.halo)))
        return
    from bench.mosaic import mosaic

    raster = str(mosaic(ROOT / "build" / "bench", args.megapixels))
    results = []
    names = list(CONFIGS)
    for round_index in range(args.rounds):
        order = names if round_index % 2 == 0 else names[::-1]
        for name in order:
            results.append(_subprocess(name, raster, args.partition, None))
            print(json.dumps(results[-1]), flush=True)
    # Scheduler overhead: many small partitions without halo on 2 workers (model time per partition is small).
    overhead = _subprocess("overhead_2x1", raster, args.small_partition, 0)
    tasks = overhead["task_s"]
    # Worker-seconds not spent inside tasks while the cluster ran, per partition: scheduling, transfers, the
    # client's merge and writes, and the idle tail of the last partitions.
    idle = overhead["cluster_busy_s"] * 2 - sum(tasks)
    overhead["overhead_per_partition_s"] = round(idle / max(len(tasks), 1), 3)
    results.append(overhead)
    print(json.dumps(overhead), flush=True)
    report = {"machine": f"{platform.node()} ({os.cpu_count()} CPUs, shared), {platform.processor() or ''}".strip(),
              "raster": raster, "megapixels": args.megapixels, "partition": args.partition, "results": results}
    (WORK / "results.json").write_text(json.dumps(report, indent=1))
    print(f"written {WORK / 'results.json'}")


def _subprocess(name: str, raster: str, partition: int, halo: int | None) -> dict:
    command = [sys.executable, __file__, "--one", name, "--raster", raster, "--partition", str(partition)]
    if halo is not None:
        command += ["--halo", str(halo)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
