"""A local Dask cluster of 2 worker processes shared by the scale-out tests (localhost only)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def dask_cluster():
    """(address, client) of a LocalCluster of 2 single-threaded worker processes, stopped after the tests."""
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0",
                      host="127.0.0.1") as cluster, Client(cluster) as client:
        yield cluster.scheduler_address, client


@pytest.fixture(scope="session")
def east_image(shared_data):
    """Banepa east image_1: 1024² px at 0.149 m (458 × 455 px on the model's 0.3 m grid), 75 buildings."""
    return str(shared_data / "banepa_east" / "image_1.tif")


@pytest.fixture(scope="session")
def single_run(east_image, tmp_path_factory):
    """The in-process run (the Processing algorithm's core call) with its probability raster."""
    from building_extractor.api import extract

    folder = tmp_path_factory.mktemp("single")
    output, probability = str(folder / "single.gpkg"), str(folder / "probability.tif")
    extract(east_image, output, probability=probability)
    return output, probability
