"""What the web service adds to a direct `bin/qgis_process run`: the same U-Net job both ways, alternating.

Usage: .venv/bin/python bench/service_overhead.py [--sizes sample 16] [--rounds 2]

The service (service/serve.py, as `make serve` runs it, two workers) is started once on free localhost ports;
each service run is timed from the POST to the GeoPackage downloaded (worker start-up with QGIS and the
plugin included, as a client sees it), each direct run is the whole `bin/qgis_process run` (QGIS start-up
included). Runs alternate so the machine's drift hits both alike. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.mosaic import mosaic  # noqa: E402

WORK = ROOT / "build" / "bench"
UNET = "building_extractor:extract_buildings_unet"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_service(data_dir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    state = WORK / "service"
    env = {**os.environ, "SERVICE_PORT": str(port), "SERVICE_REDIS_PORT": str(free_port()),
           "SERVICE_DATA_DIR": str(data_dir), "SERVICE_JOBS_DIR": str(state / "jobs"),
           "SERVICE_REDIS_DIR": str(state / "redis"), "SERVICE_UPLOAD_DIR": str(state / "uploads")}
    process = subprocess.Popen([sys.executable, "service/serve.py"], cwd=ROOT, env=env,
                               stdout=open(state.with_suffix(".log"), "w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if requests.get(f"{url}/processes", timeout=5).ok:
                return process, url
        except requests.ConnectionError:
            time.sleep(0.5)
    raise SystemExit("the service did not start")


def via_service(url: str, name: str, target: Path) -> float:
    start = time.perf_counter()
    answer = requests.post(f"{url}/processes/{UNET}/execution", headers={"Prefer": "respond-async"},
                           json={"inputs": {"INPUT": name, "DEVICE": "cpu", "OUTPUT": "buildings"}}, timeout=60)
    job = answer.json()["jobID"]
    while (status := requests.get(f"{url}/jobs/{job}", timeout=30).json())["status"] not in ("successful", "failed"):
        time.sleep(0.25)
    assert status["status"] == "successful", status
    target.write_bytes(requests.get(f"{url}/jobs/{job}/files/OUTPUT.gpkg", timeout=120).content)
    return time.perf_counter() - start


def direct(raster: Path, target: Path) -> float:
    target.unlink(missing_ok=True)
    start = time.perf_counter()
    subprocess.run([str(ROOT / "bin" / "qgis_process"), "run", UNET, f"--INPUT={raster}", "--DEVICE=cpu",
                    f"--OUTPUT={target}"], check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["sample", "16"])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    data_dir = WORK / "service-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    rasters = {}
    for size in args.sizes:
        source = ROOT / "data" / "sample" / "banepa_sample.tif" if size == "sample" else mosaic(WORK, float(size))
        rasters[size] = data_dir / source.name
        if not rasters[size].exists():
            os.link(source, rasters[size])  # the service reads only its data folder (no symbolic links out)
    process, url = start_service(data_dir)
    rows = []
    try:
        for size, raster in rasters.items():
            times: dict[str, list[float]] = {"qgis_process": [], "service": []}
            for round_ in range(args.rounds):
                order = ["qgis_process", "service"] if round_ % 2 == 0 else ["service", "qgis_process"]
                for way in order:
                    target = WORK / f"service-bench-{way}.gpkg"
                    seconds = direct(raster, target) if way == "qgis_process" else via_service(url, raster.name, target)
                    times[way].append(seconds)
                    print(size, way, f"{seconds:.1f} s", flush=True)
            rows.append((size, times))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    print("\n| raster | qgis_process s (runs) | service s (runs) | service - qgis_process, median s |")
    print("| --- | --- | --- | --- |")
    for size, times in rows:
        direct_s, service_s = times["qgis_process"], times["service"]
        print(f"| {size} | {' / '.join(f'{t:.1f}' for t in direct_s)} | {' / '.join(f'{t:.1f}' for t in service_s)} "
              f"| {statistics.median(service_s) - statistics.median(direct_s):+.1f} |")


if __name__ == "__main__":
    main()
