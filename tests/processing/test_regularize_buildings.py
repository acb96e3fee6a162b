"""regularize_buildings through QGIS Processing on real Kampala labels turned into staircase blobs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from shapely import wkb

from building_extractor.core.vector.regularize import iou


def _blob_layer(shared_data, count: int = 40):
    """A geographic (EPSG:4326) memory layer of rasterized-and-repolygonized Kampala footprints."""
    import importlib.util
    from pathlib import Path

    from pyproj import Transformer
    from qgis.core import QgsFeature, QgsField, QgsGeometry, QgsVectorLayer
    from qgis.PyQt.QtCore import QVariant
    from shapely.ops import transform

    script = Path(__file__).resolve().parents[2] / "scripts" / "eval_regularization.py"
    spec = importlib.util.spec_from_file_location("eval_regularization", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    refs, crs = module.read_reference(shared_data / "kampala" / "buildings.geojson")
    refs = refs[:count]
    blobs = [module.blob(r, np.random.default_rng(i)) for i, r in enumerate(refs)]
    to_wgs84 = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform
    layer = QgsVectorLayer("Polygon?crs=EPSG:4326", "blobs", "memory")
    layer.dataProvider().addAttributes([QgsField("name", QVariant.String)])
    layer.updateFields()
    features = []
    for i, shape in enumerate(blobs):
        feature = QgsFeature(layer.fields())
        feature.setGeometry(QgsGeometry.fromWkt(transform(to_wgs84, shape).wkt))
        feature.setAttributes([f"b{i}"])
        features.append(feature)
    layer.dataProvider().addFeatures(features)
    return layer, refs, crs


def test_regularize_geographic_layer_through_processing(qgis_processing, shared_data):
    import processing
    from pyproj import Transformer
    from shapely.ops import transform

    from building_extractor.processing.regularize_buildings import RegularizeBuildings

    layer, refs, crs = _blob_layer(shared_data)
    result = processing.run(RegularizeBuildings().create(), {
        "INPUT": layer, "MODE": 0, "TOLERANCE": 0.75, "OUTPUT": "memory:"})
    output = result["OUTPUT"]
    assert output.featureCount() == len(refs)
    assert [f.name() for f in output.fields()][-3:] == ["regularized", "reg_method", "reg_iou"]
    to_utm = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform
    shapes, flags = [], []
    for feature in output.getFeatures():
        assert feature["name"] == f"b{len(shapes)}"  # attributes and order kept
        shapes.append(transform(to_utm, wkb.loads(bytes(feature.geometry().asWkb()))))
        flags.append(feature["regularized"])
    assert all(s.is_valid for s in shapes)
    assert sum(flags) >= 0.9 * len(flags)
    assert np.mean([iou(s, r) for s, r in zip(shapes, refs)]) > 0.9
    for i, a in enumerate(shapes):  # no overlaps between neighbours (in square metres)
        for b in shapes[i + 1:]:
            assert a.intersection(b).area < 0.01
    right = 0
    for shape, flag in zip(shapes, flags):  # regularized buildings have right angles in metres
        if flag and shape.geom_type == "MultiPolygon" and len(shape.geoms) == 1:
            pts = np.asarray(shape.geoms[0].exterior.coords)[:-1]
            edges = np.roll(pts, -1, axis=0) - pts
            turn = (np.degrees(np.arctan2(edges[:, 1], edges[:, 0])) - math.degrees(
                math.atan2(edges[0, 1], edges[0, 0]))) % 90
            right += bool(np.all(np.minimum(turn, 90 - turn) < 0.5))
    assert right >= 0.8 * sum(flags)


def test_regularize_circle_mode_and_empty_layer(qgis_processing):
    import processing
    from qgis.core import QgsFeature, QgsGeometry, QgsProcessingException, QgsVectorLayer

    from building_extractor.processing.regularize_buildings import RegularizeBuildings

    layer = QgsVectorLayer("Polygon?crs=EPSG:32636", "tank", "memory")
    feature = QgsFeature()
    feature.setGeometry(QgsGeometry.fromWkt("POLYGON((0 0, 10 0, 10 9, 0 10, 0 0))"))
    layer.dataProvider().addFeatures([feature])
    result = processing.run(RegularizeBuildings().create(), {"INPUT": layer, "MODE": 3, "OUTPUT": "memory:"})
    (out,) = list(result["OUTPUT"].getFeatures())
    assert out["reg_method"] == "circle" and out["regularized"] == 1
    assert out.geometry().area() == pytest.approx(95.0, rel=0.01)
    circle = wkb.loads(bytes(out.geometry().asWkb()))
    square = wkb.loads(bytes(feature.geometry().asWkb()))
    assert out["reg_iou"] == pytest.approx(iou(circle, square), abs=1e-4) and out["reg_iou"] >= 0.8
    empty = QgsVectorLayer("Polygon?crs=EPSG:32636", "empty", "memory")
    with pytest.raises(QgsProcessingException, match="no features"):
        processing.run(RegularizeBuildings().create(), {"INPUT": empty, "OUTPUT": "memory:"})
