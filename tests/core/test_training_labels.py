"""Issue 20, point 5: footprints that give no building pixels (empty layer, footprints off the raster, points or
lines) are refused before training; very few are warned about."""

from __future__ import annotations

import json
import re

import pytest

from building_extractor.core.errors import BuildingExtractorError
from building_extractor.core.progress import SilentProgress
from building_extractor.core.train.trainers import make_trainer
from building_extractor.core.train.training import TrainingSource
from tests.core.test_training import tiny_options
from tests.synthetic import scene_with_roofs, write_raster

torch = pytest.importorskip("torch")


class Warnings(SilentProgress):
    def __init__(self) -> None:
        super().__init__()
        self.warnings: list[str] = []

    def warning(self, message: str) -> None:
        self.warnings.append(message)


def geojson(path, geometries) -> str:
    features = [{"type": "Feature", "properties": {}, "geometry": g} for g in geometries]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features,
                                "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32636"}}}))
    return str(path)


def square(x0: float, y0: float, size: float) -> dict:
    ring = [[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size], [x0, y0]]
    return {"type": "Polygon", "coordinates": [ring]}


@pytest.fixture
def raster(tmp_path) -> str:
    from affine import Affine

    return str(write_raster(tmp_path / "r.tif", scene_with_roofs(256, 256, [(20, 20, 30, 30)]), "EPSG:32636",
                            Affine(0.6, 0, 500000, 0, -0.6, 100000)))


@pytest.mark.parametrize("geometries, why", [
    ([], "no footprint polygon lies on the raster"),
    ([square(600000, 100000, 20)], "no footprint polygon lies on the raster"),  # 100 km away
    ([{"type": "Point", "coordinates": [500050, 99950]},
      {"type": "LineString", "coordinates": [[500010, 99990], [500100, 99900]]}], "2 feature(s) are points or lines"),
])
def test_labels_without_building_pixels_are_refused_before_training(tmp_path, raster, geometries, why) -> None:
    labels = geojson(tmp_path / "labels.geojson", geometries)
    out = tmp_path / "model.safetensors"
    trainer = make_trainer([TrainingSource(raster, labels)], tiny_options(), str(out), progress=SilentProgress())
    with pytest.raises(BuildingExtractorError, match=f"give no building pixels .*{re.escape(why)}"):
        trainer.run()
    assert not out.exists() and trainer.history == []  # refused before the first epoch


def test_few_labels_are_warned_about(tmp_path, raster) -> None:
    labels = geojson(tmp_path / "labels.geojson", [square(500012, 99970, 18)])
    progress = Warnings()
    out = tmp_path / "model.safetensors"
    make_trainer([TrainingSource(raster, labels)], tiny_options(epochs=1, steps_per_epoch=1), str(out),
                 progress=progress).run()
    assert out.exists()
    assert any("little to learn from: 1 building(s)" in w for w in progress.warnings), progress.warnings
