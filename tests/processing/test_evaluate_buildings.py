"""building_extractor:evaluate_buildings through processing.run: real labels, mixed CRSs, outputs, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

UTM = "EPSG:32636"
X, Y = 453_000.0, 35_000.0


def _layer(name: str, crs: str, rects: list[tuple[float, float, float, float]]):
    """A memory polygon layer with rectangles given in UTM 36N, stored in ``crs``."""
    from qgis.core import (
        QgsCoordinateReferenceSystem,
        QgsCoordinateTransform,
        QgsFeature,
        QgsGeometry,
        QgsProject,
        QgsRectangle,
        QgsVectorLayer,
    )

    layer = QgsVectorLayer(f"Polygon?crs={crs}", name, "memory")
    transform = QgsCoordinateTransform(QgsCoordinateReferenceSystem(UTM), QgsCoordinateReferenceSystem(crs),
                                       QgsProject.instance())
    features = []
    for rect in rects:
        geometry = QgsGeometry.fromRect(QgsRectangle(*rect))
        geometry.densifyByCount(10)
        geometry.transform(transform)
        feature = QgsFeature()
        feature.setGeometry(geometry)
        features.append(feature)
    layer.dataProvider().addFeatures(features)
    return layer


def _feature(wkt: str):
    from qgis.core import QgsFeature, QgsGeometry

    feature = QgsFeature()
    feature.setGeometry(QgsGeometry.fromWkt(wkt))
    return feature


def _run(params: dict):
    from qgis import processing

    return processing.run("building_extractor:evaluate_buildings", params)


def test_real_labels_against_themselves_write_layer_json_html(provider, shared_data, tmp_path):
    from qgis.core import QgsVectorLayer

    labels = str(shared_data / "kampala" / "buildings.geojson")
    out = {"OUTPUT": str(tmp_path / "eval.gpkg"), "OUTPUT_JSON": str(tmp_path / "eval.json"),
           "OUTPUT_HTML": str(tmp_path / "eval.html")}
    result = _run({"PREDICTED": labels, "REFERENCE": labels, "IOU_THRESHOLDS": "0.5, 0.75", **out})
    for name in ("PIXEL_IOU", "PIXEL_F1", "PIXEL_ACCURACY", "BUILDING_F1", "BUILDING_PRECISION", "BUILDING_RECALL"):
        assert result[name] == 1.0, name
    assert result["BUILDING_FP"] == 0 and result["BUILDING_FN"] == 0
    layer = QgsVectorLayer(result["OUTPUT"], "eval", "ogr")
    assert layer.isValid() and layer.crs().authid() == "EPSG:4326"
    rows = [(f["source"], f["status"], f["iou"]) for f in layer.getFeatures()]
    n = int(result["BUILDING_TP"])
    assert n > 100 and len(rows) == 2 * n
    assert {(source, status) for source, status, _ in rows} == {("predicted", "TP"), ("reference", "TP")}
    assert all(iou == pytest.approx(1.0) for _, _, iou in rows)
    data = json.loads(Path(result["OUTPUT_JSON"]).read_text())
    assert data["building"]["0.75"]["tp"] == n and data["pixel"]["iou"] == 1.0
    assert "Pixel metrics" in Path(result["OUTPUT_HTML"]).read_text()


def test_shifted_prediction_in_another_crs_with_area(provider):
    reference = _layer("reference", UTM, [(X, Y, X + 10, Y + 10), (X + 20, Y, X + 30, Y + 10)])
    # The first building is shifted by 2 m (IoU 2/3), the second by 6 m (IoU 1/4); stored in EPSG:4326.
    predicted = _layer("predicted", "EPSG:4326", [(X + 2, Y, X + 12, Y + 10), (X + 26, Y, X + 36, Y + 10)])
    result = _run({"PREDICTED": predicted, "REFERENCE": reference, "OUTPUT": "memory:"})
    assert result["PIXEL_IOU"] == pytest.approx((80 + 40) / (120 + 160), abs=0.01)
    assert (result["BUILDING_TP"], result["BUILDING_FP"], result["BUILDING_FN"]) == (1, 1, 1)
    assert result["BUILDING_F1"] == pytest.approx(0.5)
    assert result["OUTPUT_JSON"] is None and result["OUTPUT_HTML"] is None
    layer = result["OUTPUT"]  # processing.run hands back memory outputs as layers
    assert layer.renderer().type() == "categorizedSymbol"
    rows = sorted((f["source"], f["source_id"], f["status"], round(f["iou"], 2), f["match_id"])
                  for f in layer.getFeatures())
    assert rows == [("predicted", 1, "TP", 0.67, 1), ("predicted", 2, "FP", 0.25, None),
                    ("reference", 1, "TP", 0.67, 1), ("reference", 2, "FN", 0.25, None)]
    area = _layer("area", "EPSG:3857", [(X - 5, Y - 5, X + 15, Y + 15)])
    clipped = _run({"PREDICTED": predicted, "REFERENCE": reference, "AREA": area, "OUTPUT": "memory:"})
    assert (clipped["BUILDING_TP"], clipped["BUILDING_FP"], clipped["BUILDING_FN"]) == (1, 0, 0)
    extent = f"{X + 15},{X + 40},{Y - 5},{Y + 15} [{UTM}]"  # only the second building
    by_extent = _run({"PREDICTED": predicted, "REFERENCE": reference, "EXTENT": extent, "OUTPUT": "memory:"})
    assert (by_extent["BUILDING_TP"], by_extent["BUILDING_FP"], by_extent["BUILDING_FN"]) == (0, 1, 1)
    assert by_extent["PIXEL_IOU"] == pytest.approx(40 / 160, abs=0.01)


def test_bad_inputs_raise_processing_exceptions(provider):
    from qgis.core import QgsProcessingException

    reference = _layer("reference", UTM, [(X, Y, X + 10, Y + 10)])
    empty = _layer("empty", UTM, [])
    away = _layer("away", UTM, [(X + 5000, Y, X + 5010, Y + 10)])
    with pytest.raises(QgsProcessingException, match="reference layer has no building"):
        _run({"PREDICTED": reference, "REFERENCE": empty, "OUTPUT": "memory:"})
    with pytest.raises(QgsProcessingException, match="do not overlap"):
        _run({"PREDICTED": reference, "REFERENCE": reference, "AREA": away, "OUTPUT": "memory:"})
    with pytest.raises(QgsProcessingException, match="IoU thresholds"):
        _run({"PREDICTED": reference, "REFERENCE": reference, "IOU_THRESHOLDS": "half", "OUTPUT": "memory:"})
    degenerate = _layer("degenerate", UTM, [])
    degenerate.dataProvider().addFeatures([_feature(f"POLYGON(({X} {Y}, {X + 5} {Y}, {X + 10} {Y}, {X} {Y}))")])
    with pytest.raises(QgsProcessingException, match="invalid geometry.*cannot be repaired"):
        _run({"PREDICTED": degenerate, "REFERENCE": reference, "OUTPUT": "memory:"})
    bowtie = _layer("bowtie", UTM, [])
    bowtie.dataProvider().addFeatures([_feature(
        f"POLYGON(({X} {Y}, {X + 10} {Y + 10}, {X + 10} {Y}, {X} {Y + 10}, {X} {Y}))")])
    repaired = _run({"PREDICTED": bowtie, "REFERENCE": reference, "OUTPUT": "memory:"})
    assert repaired["PIXEL_IOU"] == pytest.approx(0.5)
    empty_prediction = _run({"PREDICTED": empty, "REFERENCE": reference, "OUTPUT": "memory:"})
    assert empty_prediction["BUILDING_RECALL"] == 0.0 and empty_prediction["BUILDING_FN"] == 1


def test_geojson_reference_with_projected_coordinates(provider, shared_data, tmp_path):
    """Kampala's OSM footprints written as GeoJSON in UTM 36N: with a "crs" member QGIS reads them right and the
    evaluation runs; without one (read as WGS 84) the run is refused with the cause and the fix, not a raw
    reprojection error (issue 20, point 13)."""
    from osgeo import gdal
    from qgis.core import QgsProcessingException

    source = str(shared_data / "kampala" / "buildings.geojson")
    with_crs = tmp_path / "utm_with_crs.geojson"
    gdal.VectorTranslate(str(with_crs), source, format="GeoJSON", dstSRS="EPSG:32636",
                         layerCreationOptions=["RFC7946=NO"])
    document = json.loads(with_crs.read_text())
    assert "crs" in document
    del document["crs"]
    without_crs = tmp_path / "utm_without_crs.geojson"
    without_crs.write_text(json.dumps(document))

    result = _run({"PREDICTED": source, "REFERENCE": str(with_crs), "OUTPUT": "memory:"})
    assert result["BUILDING_F1"] == pytest.approx(1.0)
    for predicted, reference, role in ((source, str(without_crs), "reference"),
                                       (str(without_crs), str(without_crs), "predicted")):
        with pytest.raises(QgsProcessingException, match=rf"The {role} layer .*geographic CRS \(EPSG:4326\).*"
                                                         r"beyond ±180° / ±90°.*\"crs\" member.*Assign CRS"):
            _run({"PREDICTED": predicted, "REFERENCE": reference, "OUTPUT": "memory:"})
