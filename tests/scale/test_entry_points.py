"""The command line (without QGIS) and the DASK_SCHEDULER parameter give the Processing algorithm's layer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.scale.compare import mask_iou, read_layer

ROOT = Path(__file__).resolve().parents[2]
ALG = "building_extractor:extract_buildings_unet"


def records(path: str) -> list[tuple]:
    """Every feature's geometry (WKB) and attributes, id included, in id order."""
    import fiona
    from shapely.geometry import shape

    with fiona.open(path) as layer:
        return sorted((f["properties"]["id"], shape(f["geometry"]).wkb, *f["properties"].values()) for f in layer)


@pytest.fixture(scope="module")
def qgis_output(provider, east_image, tmp_path_factory):
    import processing

    output = str(tmp_path_factory.mktemp("qgis") / "qgis.gpkg")
    processing.run(ALG, {"INPUT": east_image, "OUTPUT": output})
    return output


def test_command_line_without_qgis_writes_the_algorithms_layer(qgis_output, east_image, tmp_path) -> None:
    blocker = tmp_path / "no_qgis" / "qgis"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('QGIS is not installed on this server')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker.parent), str(ROOT)])}
    output = tmp_path / "cli.gpkg"
    done = subprocess.run([sys.executable, "-m", "building_extractor", "extract", east_image, str(output)],
                          env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "buildings written to" in done.stdout
    assert records(str(output)) == records(qgis_output)
    import fiona

    with fiona.open(str(output)) as cli, fiona.open(qgis_output) as qgis:
        assert cli.crs_wkt == qgis.crs_wkt and cli.schema == qgis.schema


def test_command_line_refuses_to_overwrite(east_image, tmp_path) -> None:
    from building_extractor.cli import main

    existing = tmp_path / "exists.gpkg"
    existing.write_bytes(b"not yours")
    assert main(["extract", east_image, str(existing)]) == 2
    assert existing.read_bytes() == b"not yours"


def test_dask_scheduler_parameter_streams_cluster_buildings_into_the_sink(provider, dask_cluster, east_image,
                                                                          qgis_output, tmp_path) -> None:
    import processing

    output = str(tmp_path / "cluster.gpkg")
    processing.run(ALG, {"INPUT": east_image, "OUTPUT": output, "DASK_SCHEDULER": dask_cluster[0]})
    a, b = read_layer(qgis_output), read_layer(output)
    assert abs(len(a) - len(b)) <= max(1, 0.01 * len(a))
    assert mask_iou(a, b, east_image) >= 0.99


class CancelWhenConnected:
    """Cancels as soon as the algorithm reports it reached the scheduler (tasks are then being submitted)."""

    def __new__(cls):
        from qgis.core import QgsProcessingFeedback

        class Feedback(QgsProcessingFeedback):
            def pushInfo(self, message: str) -> None:  # noqa: N802 - QGIS API name
                super().pushInfo(message)
                if "Dask scheduler" in message:
                    self.cancel()

        return Feedback()


def test_cancel_on_the_cluster_cancels_its_tasks_and_leaves_nothing(provider, dask_cluster, east_image,
                                                                     tmp_path) -> None:
    import processing
    from qgis.core import QgsProcessingException

    output = tmp_path / "cancelled.gpkg"
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        processing.run(ALG, {"INPUT": east_image, "OUTPUT": str(output), "DASK_SCHEDULER": dask_cluster[0]},
                       feedback=CancelWhenConnected())
    assert not [p for p in os.listdir(tmp_path) if p.startswith("cancelled")]
    client = dask_cluster[1]
    deadline = time.monotonic() + 30
    while client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)) == 0


def test_dask_scheduler_without_dask_says_how_to_install_it(provider, east_image, tmp_path, monkeypatch) -> None:
    import importlib.util

    import processing
    from qgis.core import QgsProcessingException

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("dask", "distributed") else find_spec(name, *a))
    with pytest.raises(QgsProcessingException, match="pip install dask distributed"):
        processing.run(ALG, {"INPUT": east_image, "OUTPUT": str(tmp_path / "x.gpkg"),
                             "DASK_SCHEDULER": "tcp://127.0.0.1:8786"})


def test_inputs_list_folder_and_stac_become_one_mosaic(shared_data, tmp_path) -> None:
    from building_extractor.core.errors import InputRasterError
    from building_extractor.scale.inputs import resolve_input

    images = [str(shared_data / "kampala" / name) for name in ("image_1.tif", "image_2.tif")]
    items = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "stac_version": "1.0.0", "id": f"kampala-{i}", "geometry": None, "links": [],
         "properties": {"datetime": "2022-01-01T00:00:00Z"},
         "assets": {"visual": {"href": path, "type": "image/tiff; application=geotiff"}}}
        for i, path in enumerate(images)]}
    stac = tmp_path / "items.json"
    stac.write_text(json.dumps(items))
    folder = tmp_path / "tiles"
    folder.mkdir()
    for path in images:
        os.symlink(path, folder / os.path.basename(path))
    for given in (images, str(folder), str(stac)):
        mosaic = resolve_input(given)
        assert mosaic.startswith("<VRTDataset") and mosaic.count("<SourceFilename") >= 2
    with pytest.raises(InputRasterError, match="one CRS"):
        resolve_input([images[0], str(shared_data / "banepa" / "predict.tif")])


def test_console_script_is_declared_and_importable() -> None:
    import importlib

    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    module, function = project["scripts"]["building-extractor"].split(":")
    assert callable(getattr(importlib.import_module(module), function))
