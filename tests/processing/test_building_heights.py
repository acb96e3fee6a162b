"""building_heights through QGIS Processing: nDSM and DSM - DTM, 3D blocks layer and CityJSON export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin


def _raster(path: Path, data: np.ndarray) -> str:
    profile = {"driver": "GTiff", "width": data.shape[1], "height": data.shape[0], "count": 1,
               "dtype": "float32", "crs": "EPSG:32636", "transform": from_origin(500000.0, 100.0, 0.5, 0.5),
               "nodata": -9999.0}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data.astype("float32"), 1)
    return str(path)


@pytest.fixture
def scene(tmp_path):
    """Ground sloping from 1200 m, a 6 m house, a 9 m house half off the raster, footprints in EPSG:4326."""
    from qgis.core import (
        QgsCoordinateReferenceSystem,
        QgsCoordinateTransform,
        QgsFeature,
        QgsField,
        QgsGeometry,
        QgsProject,
        QgsVectorLayer,
    )
    from qgis.PyQt.QtCore import QVariant

    terrain = (1200.0 + 0.02 * np.arange(200))[None, :].repeat(200, axis=0)
    heights = np.zeros((200, 200))
    heights[100:116, 20:40] = 6.0  # x 10..20 m, y 42..50 m
    heights[20:40, 0:10] = 9.0  # x 0..5 m (the footprint reaches 5 m west of the raster)
    dsm = _raster(tmp_path / "dsm.tif", terrain + heights)
    dtm = _raster(tmp_path / "dtm.tif", terrain)
    ndsm = _raster(tmp_path / "ndsm.tif", heights)
    layer = QgsVectorLayer("Polygon?crs=EPSG:4326", "houses", "memory")
    layer.dataProvider().addAttributes([QgsField("name", QVariant.String)])
    layer.updateFields()
    to_wgs84 = QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:32636"),
                                      QgsCoordinateReferenceSystem("EPSG:4326"), QgsProject.instance())
    features = []
    for name, (x0, y0, x1, y1) in {"house": (10, 42, 20, 50), "edge": (-5, 80, 5, 90),
                                   "away": (300, 300, 310, 310)}.items():
        geometry = QgsGeometry.fromWkt(f"POLYGON(({500000 + x0} {y0}, {500000 + x1} {y0}, {500000 + x1} {y1}, "
                                       f"{500000 + x0} {y1}, {500000 + x0} {y0}))")
        geometry.transform(to_wgs84)
        feature = QgsFeature(layer.fields())
        feature.setGeometry(geometry)
        feature.setAttributes([name])
        features.append(feature)
    layer.dataProvider().addFeatures(features)
    return layer, ndsm, dsm, dtm


def _by_name(layer) -> dict:
    return {f["name"]: f for f in layer.getFeatures()}


def test_heights_from_ndsm_and_from_dsm_minus_dtm(qgis_processing, scene, tmp_path):
    import processing

    from building_extractor.processing.building_heights import BuildingHeights

    layer, ndsm, dsm, dtm = scene
    result = processing.run(BuildingHeights().create(), {"INPUT": layer, "HEIGHTS": ndsm, "OUTPUT": "memory:"})
    rows = _by_name(result["OUTPUT"])
    house, edge, away = rows["house"], rows["edge"], rows["away"]
    # the footprint went to EPSG:4326 and back: a pixel row may be lost or gained along an edge
    assert house["height_min"] == house["height_max"] == house["height_median"] == 6.0
    assert abs(house["pixel_count"] - 20 * 16) <= 40
    assert edge["height_mean"] == 9.0 and abs(edge["pixel_count"] - 10 * 20) <= 30
    from qgis.core import NULL

    assert away["pixel_count"] == 0 and away["height_mean"] == NULL and away["height_max"] == NULL

    cityjson = tmp_path / "lod1.city.json"
    result = processing.run(BuildingHeights().create(), {
        "INPUT": layer, "HEIGHTS": dsm, "DTM": dtm, "BUFFER": 1.0, "OUTPUT": "memory:",
        "OUTPUT_3D": str(tmp_path / "blocks.gpkg"), "CITYJSON": str(cityjson)})
    house = _by_name(result["OUTPUT"])["house"]
    assert house["height_min"] == pytest.approx(6.0, abs=1e-3) and house["height_p90"] == pytest.approx(6.0, abs=1e-3)
    assert abs(house["pixel_count"] - 16 * 12) <= 30  # shrunk by 1 m
    assert house["ground"] == pytest.approx(1200.0 + 0.02 * 30, abs=0.1)

    from qgis.core import QgsVectorLayer, QgsWkbTypes

    blocks = QgsVectorLayer(result["OUTPUT_3D"], "blocks")
    assert blocks.isValid() and blocks.featureCount() == 2
    assert QgsWkbTypes.hasZ(blocks.wkbType()) and QgsWkbTypes.flatType(blocks.wkbType()) == \
        QgsWkbTypes.MultiPolygon
    block = _by_name(blocks)["house"].geometry()
    zs = sorted({round(v.z(), 2) for v in block.vertices()})
    assert zs[0] == pytest.approx(house["ground"], abs=0.01)
    assert zs[-1] == pytest.approx(house["ground"] + 6.0, abs=0.01)

    document = json.loads(cityjson.read_text())
    assert document["type"] == "CityJSON" and len(document["CityObjects"]) == 2
    assert document["metadata"]["referenceSystem"].endswith("/EPSG/0/32636")
    heights = sorted(o["attributes"]["height"] for o in document["CityObjects"].values())
    assert heights == pytest.approx([6.0, 9.0], abs=1e-3)


def test_missing_raster_fails_clearly(qgis_processing, scene):
    import processing
    from qgis.core import QgsProcessingException

    from building_extractor.processing.building_heights import BuildingHeights

    layer, *_ = scene
    with pytest.raises(QgsProcessingException):
        processing.run(BuildingHeights().create(), {"INPUT": layer, "HEIGHTS": "/nonexistent/ndsm.tif",
                                                    "OUTPUT": "memory:"})
