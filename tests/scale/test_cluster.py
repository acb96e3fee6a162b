"""Scale-out on a real LocalCluster of 2 workers, on real imagery: same buildings as one process, each once and
whole across partition borders; a killed worker and an interrupted run change nothing."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

from building_extractor.api import core_options, extract
from building_extractor.core.vector.vectorize import output_transformer
from building_extractor.scale.cluster import ClusterOptions, plan
from building_extractor.scale.inputs import resolve_input
from tests.scale.compare import duplicates, mask_iou, read_layer, splits

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SMALL = {"partition_size": 160, "halo": 192}  # 3 × 3 partitions: many buildings straddle a border
COARSE = {"partition_size": 240, "halo": 192}  # 2 × 2 partitions: enough for faults and resuming


def records(path: str) -> list[tuple]:
    """Every building's geometry (WKB) and attributes except its id (ids follow completion order)."""
    import fiona
    from shapely.geometry import shape

    with fiona.open(path) as layer:
        return sorted((shape(f["geometry"]).wkb, *(v for k, v in f["properties"].items() if k != "id"))
                      for f in layer)


def straddling(buildings: list, image: str, partition_size: int) -> int:
    """How many buildings cross a partition border of the processing grid."""
    from shapely.affinity import affine_transform

    job = plan(resolve_input(image), "unet", core_options("unet"), ClusterOptions(partition_size=partition_size))
    to_grid = output_transformer(job.output_crs_wkt, job.grid_crs_wkt)
    a, b, c, d, e, f = job.grid_transform
    inverse = ~rasterio.Affine(a, b, c, d, e, f)
    count = 0
    for building in buildings:
        x0, y0, x1, y1 = affine_transform(to_grid(building), [inverse.a, inverse.b, inverse.d, inverse.e,
                                                              inverse.c, inverse.f]).bounds
        count += int(x0 // partition_size != x1 // partition_size or y0 // partition_size != y1 // partition_size)
    return count


@pytest.fixture(scope="module")
def cluster_run(dask_cluster, east_image, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cluster")
    output, probability = str(folder / "cluster.gpkg"), str(folder / "probability.vrt")
    summary = extract(east_image, output, scheduler=dask_cluster[0], probability=probability, **SMALL)
    return summary, output, probability


def test_two_workers_find_the_same_buildings_once_each(cluster_run, single_run, east_image) -> None:
    summary, output, _ = cluster_run
    single, cluster = read_layer(single_run[0]), read_layer(output)
    assert summary.partitions == 9
    assert straddling(single, east_image, SMALL["partition_size"]) >= 10  # borders cut through many buildings
    assert mask_iou(single, cluster, east_image) >= 0.99
    assert abs(len(cluster) - len(single)) <= max(1, 0.01 * len(single)), (len(cluster), len(single))
    assert duplicates(cluster) == 0
    assert splits(single, cluster) == []  # no building cut in two by a partition border


def test_probability_vrt_of_partition_cogs_matches_single_run(cluster_run, single_run) -> None:
    _, _, vrt = cluster_run
    parts = sorted(os.listdir(os.path.splitext(vrt)[0] + "_partitions"))
    assert len(parts) == 9
    with rasterio.open(vrt) as mosaic, rasterio.open(single_run[1]) as single:
        assert (mosaic.width, mosaic.height, mosaic.transform) == (single.width, single.height, single.transform)
        a, b = mosaic.read(1) >= 128, single.read(1) >= 128
    assert np.count_nonzero(a & b) / np.count_nonzero(a | b) >= 0.99


class KillOneWorker:
    """Progress that kills a worker process (SIGKILL) when the first partition has come back."""

    def __init__(self, client) -> None:
        self.client, self.killed = client, None

    def info(self, message: str) -> None:
        if message.startswith("Partition") and self.killed is None:
            pids = self.client.run(os.getpid)
            self.killed = sorted(pids.values())[0]
            os.kill(self.killed, signal.SIGKILL)

    def set_stage(self, *args) -> None: ...
    def set_fraction(self, fraction: float) -> None: ...
    def warning(self, message: str) -> None: ...
    def is_canceled(self) -> bool:
        return False


@pytest.fixture(scope="module")
def coarse_run(dask_cluster, east_image, tmp_path_factory):
    output = str(tmp_path_factory.mktemp("coarse") / "undisturbed.gpkg")
    extract(east_image, output, scheduler=dask_cluster[0], **COARSE)
    return output


def test_a_killed_worker_is_replaced_and_the_result_is_the_same(dask_cluster, east_image, coarse_run,
                                                                tmp_path) -> None:
    address, client = dask_cluster
    progress = KillOneWorker(client)
    output = str(tmp_path / "killed.gpkg")
    extract(east_image, output, scheduler=address, progress=progress, resume=False, **COARSE)  # no journal
    assert progress.killed is not None
    client.wait_for_workers(2, timeout=120)  # the nanny restarted it
    assert progress.killed not in client.run(os.getpid).values()
    assert records(output) == records(coarse_run)


class StopAfter:
    """Progress that interrupts the run (as Ctrl-C would) once ``count`` partitions are written."""

    def __init__(self, count: int | None) -> None:
        self.count, self.ran, self.lines = count, [], []

    def info(self, message: str) -> None:
        self.lines.append(message)
        if message.startswith("Partition"):
            self.ran.append(int(message.split()[1].split("/")[0]))
            if self.count is not None and len(self.ran) >= self.count:
                raise KeyboardInterrupt

    def set_stage(self, *args) -> None: ...
    def set_fraction(self, fraction: float) -> None: ...
    def warning(self, message: str) -> None: ...
    def is_canceled(self) -> bool:
        return False


def test_an_interrupted_run_resumes_without_redoing_finished_partitions(dask_cluster, east_image, coarse_run,
                                                                        tmp_path) -> None:
    output = str(tmp_path / "resumed.gpkg")
    first = StopAfter(2)
    with pytest.raises(KeyboardInterrupt):
        extract(east_image, output, scheduler=dask_cluster[0], progress=first, **COARSE)
    assert not os.path.exists(output) and os.path.exists(output + ".partial.gpkg")
    second = StopAfter(None)
    summary = extract(east_image, output, scheduler=dask_cluster[0], progress=second, **COARSE)
    assert summary.skipped_partitions == 2
    assert sorted(first.ran + second.ran) == [1, 2, 3, 4]  # each partition ran once over both runs
    assert not os.path.exists(output + ".partial.gpkg")
    assert records(output) == records(coarse_run)


@pytest.mark.parametrize("architecture", ["unet", "maskrcnn"])
def test_a_partition_finds_its_buildings_exactly_as_one_process_does(architecture, east_image) -> None:
    """A partition whose window (aligned to the single-process run's tiles) leaves tiles out computes the buildings
    it owns bit for bit as the single-process run does (tiles of 192 px so that windows are part of the image)."""
    from dataclasses import asdict, replace

    from shapely import wkb

    from building_extractor.core.extract.instances import extract_instances
    from building_extractor.core.extract.pipeline import extract_buildings
    from building_extractor.core.models.model_file import shipped_model_path
    from building_extractor.scale.partitions import run_partition

    options = replace(core_options(architecture, tile_size=192, overlap=64),
                      model_path=shipped_model_path(f"default_{architecture}.safetensors"))
    job = plan(resolve_input(east_image), architecture, options, ClusterOptions(partition_size=160, halo=40))
    r0, c0, r1, c1 = job.layout.partition(0).window
    assert (r1, c1) < (job.layout.height, job.layout.width)  # tiles beyond the window are left out
    to_grid = output_transformer(job.output_crs_wkt, job.grid_crs_wkt) or (lambda geometry: geometry)
    inverse = ~rasterio.Affine(*job.grid_transform)

    def owned(buildings: list) -> list[tuple]:
        kept = []
        for building in buildings:
            centre = to_grid(wkb.loads(building.wkb)).centroid
            col, row = inverse * (centre.x, centre.y)
            if row < 160 and col < 160:
                kept.append(tuple(v for k, v in asdict(building).items() if k != "id"))
        return sorted(kept)

    extract = extract_instances if architecture == "maskrcnn" else extract_buildings
    single = owned(list(extract(east_image, options)))
    result = run_partition(job, 0)
    mine = owned(result.buildings + [piece.building for piece in result.pieces if piece.whole])
    assert len(single) >= 5 and mine == single


def test_halo_narrower_than_buildings_merges_their_fragments(east_image, tmp_path) -> None:
    """With no halo and tiles of 128 px, windows end 32-128 px past the cores and buildings reaching further are
    cut by them: their fragments are merged into one building each (run in this process: the merge does not
    depend on Dask)."""
    from shapely import wkb

    from building_extractor.scale.merge import PieceMerger
    from building_extractor.scale.partitions import run_partition

    tiles = {"tile_size": 128, "overlap": 32}
    job = plan(resolve_input(east_image), "unet", core_options("unet", **tiles),
               ClusterOptions(partition_size=160, halo=0))
    merger = PieceMerger(job.grid_crs_wkt, job.output_crs_wkt)
    buildings, fragments = [], 0
    for index in range(len(job.layout)):
        result = run_partition(job, index)
        fragments += sum(not piece.whole for piece in result.pieces)
        merger.add(result.pieces)
        buildings += result.buildings + merger.finish([index])
    assert not merger.pending
    merged = [wkb.loads(b.wkb) for b in buildings]
    extract(east_image, str(tmp_path / "single.gpkg"), **tiles)
    single = read_layer(str(tmp_path / "single.gpkg"))
    assert fragments >= 5
    assert duplicates(merged) == 0
    assert splits(single, merged) == []
    assert abs(len(merged) - len(single)) <= 0.05 * len(single)


def test_mask_rcnn_on_two_workers_matches_one_process(dask_cluster, east_image, tmp_path) -> None:
    """Mask R-CNN's masks depend on the tiles around them (in one process, tile 384 or 448 instead of 512 gives
    mask IoU 0.79 / 0.84 on this image): partitions use the single-process run's tiles, so they find its buildings.
    (Here every window is the one 512 px tile; windows that leave tiles out are checked above.)"""
    single, cluster = str(tmp_path / "single.gpkg"), str(tmp_path / "cluster.gpkg")
    extract(east_image, single, architecture="maskrcnn")
    summary = extract(east_image, cluster, architecture="maskrcnn", scheduler=dask_cluster[0], **COARSE)
    a, b = read_layer(single), read_layer(cluster)
    assert summary.partitions == 4 and len(a) > 20
    assert straddling(a, east_image, COARSE["partition_size"]) >= 5
    assert mask_iou(a, b, east_image) >= 0.99
    assert abs(len(a) - len(b)) <= max(1, 0.01 * len(a)), (len(a), len(b))
    assert duplicates(b) == 0
    assert splits(a, b) == []


def readme_block(title: str) -> str:
    """The shell block that follows ``title`` in README.md (the copy-paste examples the tests below run)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text[text.index(title):].split("```\n", 2)[1]
    return block.split("```")[0]


def run_readme_block(title: str, folder: Path, seconds: int) -> str:
    """Run a README block as written, with the venv's ``python`` and ``dask`` first on PATH, in ``folder`` (which
    links to the repository's data/ and package, as the repository itself would); every process it started is
    stopped afterwards. Returns its stdout."""
    for name in ("data", "building_extractor"):
        (folder / name).symlink_to(ROOT / name)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    # Output goes to files: the block's background jobs would hold pipes open after it ends.
    with open(folder / "out.txt", "w") as out_file, open(folder / "err.txt", "w") as err_file:
        process = subprocess.Popen(["bash", "-e", "-c", readme_block(title)], cwd=folder, env=env,
                                   stdout=out_file, stderr=err_file, start_new_session=True)
    try:
        process.wait(timeout=seconds)
    finally:
        try:  # the block's background jobs (scheduler, workers) share its process group
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        process.wait()
    assert process.returncode == 0, (folder / "err.txt").read_text()[-3000:]
    return (folder / "out.txt").read_text()


@pytest.fixture(scope="module")
def sample_single(tmp_path_factory) -> str:
    output = str(tmp_path_factory.mktemp("sample") / "single.gpkg")
    extract(str(ROOT / "data" / "sample" / "banepa_sample.tif"), output)
    return output


def test_readme_local_cluster_example_runs_as_written(sample_single, tmp_path) -> None:
    out = run_readme_block("**Local cluster**", tmp_path, 600)
    assert "Dask LocalCluster: 2 worker processes" in out and "dashboard http://" in out  # bokeh serves it
    a, b = read_layer(sample_single), read_layer(str(tmp_path / "buildings.gpkg"))
    assert len(a) > 50 and len(a) == len(b)
    assert mask_iou(a, b, str(ROOT / "data" / "sample" / "banepa_sample.tif")) >= 0.99


def test_readme_remote_scheduler_example_runs_as_written(sample_single, tmp_path) -> None:
    """A scheduler and workers started as separate processes (`dask scheduler`, `dask worker`), as on a cluster of
    other machines, on 127.0.0.1."""
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", 8786)) != 0, "port 8786 is taken: stop the Dask scheduler using it"
    out = run_readme_block("**Remote scheduler**", tmp_path, 600)
    assert "Dask scheduler tcp://127.0.0.1:8786" in out
    a, b = read_layer(sample_single), read_layer(str(tmp_path / "buildings.gpkg"))
    assert len(a) == len(b)
    assert mask_iou(a, b, str(ROOT / "data" / "sample" / "banepa_sample.tif")) >= 0.99


def test_dashboard_answers_over_http(dask_cluster) -> None:
    import urllib.request

    from building_extractor.scale.cluster import dashboard

    link = dashboard(dask_cluster[1])
    assert link.startswith("http://127.0.0.1:")  # bokeh is installed (requirements.txt)
    with urllib.request.urlopen(link, timeout=30) as page:
        assert page.status == 200 and b"Dask" in page.read()
