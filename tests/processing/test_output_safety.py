"""Issue 20, points 1-2: no output may be an input or another output of the same run (refused before anything is
read, for every algorithm with several outputs), and an existing file at an output path is replaced whole, only
when the run succeeds."""

from __future__ import annotations

import hashlib
import os

import pytest
from qgis.core import QgsApplication, QgsProcessingContext, QgsProcessingException, QgsVectorLayer

from building_extractor.processing.outputs import collision
from tests.processing import test_reliability
from tests.processing.test_reliability import UTM_T, Recorder, features, run
from tests.synthetic import scene_with_roofs, write_raster

torch = pytest.importorskip("torch")
loads = test_reliability.loads  # the bright-roof model fixture


@pytest.fixture
def raster(tmp_path):
    return write_raster(tmp_path / "roofs.tif", scene_with_roofs(100, 100, [(20, 20, 30, 30)]), "EPSG:32636", UTM_T)


def digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.mark.parametrize("probability, match", [
    ("roofs.tif", "OUTPUT_PROBABILITY is the same file as INPUT"),
    ("sub/../roofs.tif", "OUTPUT_PROBABILITY is the same file as INPUT"),
    ("out.gpkg", "OUTPUT_PROBABILITY and OUTPUT are the same file"),
])
def test_probability_output_may_be_neither_the_input_nor_the_buildings(provider, loads, raster, tmp_path,
                                                                        probability, match) -> None:
    (tmp_path / "sub").mkdir()
    before = digest(raster)
    with pytest.raises(QgsProcessingException, match=match):
        run({"INPUT": str(raster), "OUTPUT": str(tmp_path / "out.gpkg"),
             "OUTPUT_PROBABILITY": str(tmp_path / probability)})
    assert loads == [] and digest(raster) == before and not (tmp_path / "out.gpkg").exists()


def test_symlinked_input_is_recognised(provider, loads, raster, tmp_path) -> None:
    os.symlink(raster, tmp_path / "link.tif")
    with pytest.raises(QgsProcessingException, match="same file as INPUT"):
        run({"INPUT": str(raster), "OUTPUT": str(tmp_path / "out.gpkg"),
             "OUTPUT_PROBABILITY": str(tmp_path / "link.tif")})


def test_every_algorithm_refuses_outputs_that_collide(provider, raster, tmp_path) -> None:
    """checkParameterValues of each algorithm with an input and an output, or with several outputs."""
    vector = tmp_path / "b.gpkg"
    layer = QgsVectorLayer("Polygon?crs=EPSG:32636", "b", "memory")
    from qgis.core import QgsVectorFileWriter

    QgsVectorFileWriter.writeAsVectorFormat(layer, str(vector), "utf-8", layer.crs(), "GPKG")
    cases = [
        ("regularize_buildings", {"INPUT": str(vector), "OUTPUT": str(vector)}, "OUTPUT is the same file as INPUT"),
        ("regularize_buildings", {"INPUT": f"{vector}|layername=b", "OUTPUT": str(vector)}, "same file as INPUT"),
        ("building_heights", {"INPUT": str(vector), "HEIGHTS": str(raster), "OUTPUT": str(tmp_path / "h.gpkg"),
                              "OUTPUT_3D": str(tmp_path / "h.gpkg")}, "OUTPUT_3D and OUTPUT are the same file"),
        ("building_heights", {"INPUT": str(vector), "HEIGHTS": str(raster), "OUTPUT": str(tmp_path / "h.gpkg"),
                              "CITYJSON": str(raster)}, "CITYJSON is the same file as HEIGHTS"),
        ("evaluate_buildings", {"PREDICTED": str(vector), "REFERENCE": str(vector),
                                "OUTPUT": str(tmp_path / "e.gpkg"), "OUTPUT_JSON": str(tmp_path / "e.json"),
                                "OUTPUT_HTML": str(tmp_path / "e.json")}, "OUTPUT_HTML and OUTPUT_JSON"),
        ("train_model", {"INPUT": str(raster), "FOOTPRINTS": str(vector), "OUTPUT_MODEL": str(raster)},
         "OUTPUT_MODEL is the same file as INPUT"),
        ("extract_buildings_maskrcnn", {"INPUT": str(raster), "OUTPUT": str(raster)}, "OUTPUT is the same file"),
    ]
    registry = QgsApplication.processingRegistry()
    for algorithm, parameters, match in cases:
        alg = registry.createAlgorithmById(f"building_extractor:{algorithm}")
        names = {d.name() for d in alg.parameterDefinitions()}
        assert set(parameters) <= names, (algorithm, set(parameters) - names)
        ok, message = alg.checkParameterValues(parameters, QgsProcessingContext())
        assert not ok and match in message, (algorithm, message)


def test_layers_of_one_geopackage_are_told_apart() -> None:
    gpkg = "/data/city.gpkg"
    inputs = {"INPUT": [f"{gpkg}|layername=footprints"]}
    assert collision(inputs, {"OUTPUT": f"ogr:dbname='{gpkg}' table=\"regular\" (geom)"}) is None
    assert "same file as INPUT" in collision(inputs, {"OUTPUT": f"ogr:dbname='{gpkg}' table=\"footprints\""})
    assert "same file as INPUT" in collision(inputs, {"OUTPUT": gpkg})  # a plain path replaces the whole file
    assert collision({"INPUT": ["memory:x", "TEMPORARY_OUTPUT"]}, {"OUTPUT": "memory:x"}) is None
    assert collision({}, {"A": "TEMPORARY_OUTPUT", "B": "TEMPORARY_OUTPUT"}) is None


def test_existing_output_survives_a_failure_while_writing_and_is_replaced_whole(provider, loads, raster, tmp_path,
                                                                                  monkeypatch) -> None:
    from building_extractor.processing.extract_buildings_unet import ExtractBuildingsUnet

    out = tmp_path / "out.gpkg"
    many = write_raster(tmp_path / "two.tif", scene_with_roofs(100, 100, [(5, 5, 20, 20), (60, 60, 20, 20)]),
                        "EPSG:32636", UTM_T)
    run({"INPUT": str(many), "OUTPUT": str(out)})
    before = digest(out)
    add = ExtractBuildingsUnet._add

    def fail_on_second(self, sink, building):
        if building.id == 2:
            raise QgsProcessingException("Could not write building 2 to the output: disk I/O error")
        add(self, sink, building)

    monkeypatch.setattr(ExtractBuildingsUnet, "_add", fail_on_second)
    with pytest.raises(QgsProcessingException, match="disk I/O error"):
        run({"INPUT": str(many), "OUTPUT": str(out)})
    assert digest(out) == before  # the earlier result, untouched
    monkeypatch.undo()
    feedback = Recorder(cancel_at_step=3)
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        run({"INPUT": str(many), "OUTPUT": str(out)}, feedback)
    assert digest(out) == before
    result = run({"INPUT": str(raster), "OUTPUT": str(out)})
    assert result["OUTPUT"] == str(out) and len(features(out)) == 1
    left = sorted(n for n in os.listdir(tmp_path) if not n.endswith(".aux.xml"))  # QGIS's raster statistics
    assert left == ["out.gpkg", "roofs.tif", "two.tif"]  # no staging folder left


def test_shapefile_is_replaced_with_all_its_side_files(provider, loads, raster, tmp_path) -> None:
    out = tmp_path / "out.shp"
    (tmp_path / "out.qix").write_text("stale spatial index of an older out.shp")
    result = run({"INPUT": str(raster), "OUTPUT": str(out)})
    assert len(features(result["OUTPUT"])) == 1
    names = sorted(os.listdir(tmp_path))
    assert {"out.shp", "out.shx", "out.dbf", "out.prj"} <= set(names) and "out.qix" not in names
    assert not [n for n in names if n.startswith(".")]


def test_vector_algorithms_stage_their_outputs(provider, tmp_path, monkeypatch) -> None:
    """regularize_buildings writes beside OUTPUT and moves it into place; a failure leaves the old file."""
    import processing
    from qgis.core import QgsFeature, QgsGeometry

    from building_extractor.processing import regularize_buildings

    layer = QgsVectorLayer("Polygon?crs=EPSG:32636", "b", "memory")
    feature = QgsFeature()
    feature.setGeometry(QgsGeometry.fromWkt("POLYGON((0 0, 10 0, 10.3 5, 10 10, 0 10, 0 0))"))
    layer.dataProvider().addFeatures([feature])
    out = tmp_path / "regular.gpkg"
    out.write_text("an older result")
    result = processing.run("building_extractor:regularize_buildings", {"INPUT": layer, "OUTPUT": str(out)})
    assert result["OUTPUT"] == str(out) and len(features(out)) == 1 and os.listdir(tmp_path) == ["regular.gpkg"]
    before = digest(out)

    def broken(*args, **kwargs):
        raise MemoryError("out of memory")

    monkeypatch.setattr(regularize_buildings, "from_shapely", broken)
    with pytest.raises(Exception, match="out of memory"):
        processing.run("building_extractor:regularize_buildings", {"INPUT": layer, "OUTPUT": str(out)})
    assert digest(out) == before and os.listdir(tmp_path) == ["regular.gpkg"]
