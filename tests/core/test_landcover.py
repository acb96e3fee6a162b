"""Land cover: a tiny multi-class U-Net trained for real on a synthetic scene whose classes have their own colours,
then extracted (class raster, buildings, polygons per class) and scored against the class raster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from affine import Affine

from building_extractor.core.errors import BuildingExtractorError
from building_extractor.core.evaluate.landcover_metrics import confusion_matrix, landcover_scores
from tests.synthetic import write_raster

torch = pytest.importorskip("torch")

CRS = "EPSG:32640"
TRANSFORM = Affine(1.0, 0, 400000, 0, -1.0, 2800000)
# Non-contiguous values: the model maps them to indexes and writes them back.
CLASSES = [{"name": "building", "value": 1, "color": "#3c1098"}, {"name": "vegetation", "value": 4},
           {"name": "water", "value": 5, "color": "#e2a929"}]
COLOURS = {1: (200, 200, 200), 4: (40, 140, 40), 5: (30, 60, 160)}


def class_scene(size: int = 192, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """RGB uint8 image and class raster (uint8, 0 = nodata): vegetation ground, water and building blocks."""
    rng = np.random.default_rng(seed)
    classes = np.full((size, size), 4, np.uint8)
    classes[: size // 3, :] = 5
    for r in range(size // 3 + 8, size - 20, 36):
        for c in range(8, size - 20, 40):
            classes[r:r + 20, c:c + 24] = 1
    image = np.zeros((3, size, size), np.float32)
    for value, rgb in COLOURS.items():
        image[:, classes == value] = np.array(rgb, np.float32)[:, None]
    image += rng.normal(0, 8, image.shape)
    classes[:, -12:] = 0  # a nodata stripe: not trained on, not scored
    return np.clip(image, 0, 255).astype(np.uint8), classes


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("landcover")
    image, classes = class_scene()
    return {"image": str(write_raster(folder / "image.tif", image, CRS, TRANSFORM)),
            "classes": str(write_raster(folder / "classes.tif", classes[None], CRS, TRANSFORM, nodata=0)),
            "folder": str(folder)}


@pytest.fixture(scope="module")
def trained(scene) -> str:
    from building_extractor.core.train.trainers import make_trainer
    from building_extractor.core.train.training import TrainingOptions, TrainingSource

    options = TrainingOptions(gsd_m=1.0, chip_size=64, block_size=64, batch_size=4, epochs=10, steps_per_epoch=10,
                              learning_rate=1e-2, pretrained=False, decoder_channels=[16, 16, 16, 16, 16],
                              threads=1, device="cpu", augment=False, chip_pool=32, classes=CLASSES, val_fraction=0.2)
    source = TrainingSource(scene["image"], class_raster=scene["classes"], name="scene")
    output = str(Path(scene["folder"]) / "landcover.safetensors")
    return make_trainer([source], options, output).run()


def test_scores_from_a_confusion_matrix() -> None:
    truth = np.array([0, 0, 1, 1, 2, 2, 255])
    pred = np.array([0, 1, 1, 1, 2, 0, 0])
    matrix = confusion_matrix(truth, pred, 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    scores = landcover_scores(matrix, ["a", "b", "c"])
    assert scores["overall_accuracy"] == round(4 / 6, 4)
    assert scores["classes"]["b"]["iou"] == round(2 / 3, 4)  # 2 hits, union 3
    assert scores["classes"]["c"]["recall"] == 0.5 and scores["classes"]["c"]["precision"] == 1.0
    assert scores["mean_iou"] == round(np.mean([1 / 3, 2 / 3, 1 / 2]), 4)


def test_model_file_lists_its_classes_and_validation_scores(trained) -> None:
    from building_extractor.core.models.model_file import read_config

    config = read_config(trained)
    assert config.is_landcover
    assert config.classes == ["building", "vegetation", "water"]
    assert config.class_values == [1, 4, 5]
    assert config.class_colors[0] == "#3c1098" and config.class_colors[2] == "#e2a929"
    assert set(config.metrics["val_class_iou"]) == {"building", "vegetation", "water"}
    assert len(config.metrics["val_confusion_matrix"]) == 3


def test_extraction_writes_class_raster_buildings_and_polygons(trained, scene, tmp_path) -> None:
    import rasterio
    from osgeo import gdal

    from building_extractor.core.extract.landcover import evaluate_landcover, landcover_polygons, raster_classes
    from building_extractor.core.extract.pipeline import ExtractionOptions, extract_buildings

    output = str(tmp_path / "landcover.tif")
    options = ExtractionOptions(trained, device="cpu", tile_size=128, overlap=32, landcover_path=output)
    buildings = list(extract_buildings(scene["image"], options))
    with rasterio.open(output) as src:
        values = src.read(1)
    assert set(np.unique(values)) <= {1, 4, 5}
    dataset = gdal.Open(output)  # kept: a band outlives its dataset only in C
    assert dataset.GetRasterBand(1).GetRasterColorInterpretation() == gdal.GCI_PaletteIndex
    dataset = None
    assert [c.name for c in raster_classes(output)] == ["building", "vegetation", "water"]

    scores = evaluate_landcover(output, scene["classes"], raster_classes(output))
    assert scores["mean_iou"] > 0.9, scores
    assert scores["pixels"] == 192 * (192 - 12)  # the nodata stripe is not scored
    # Buildings are the pixels whose most likely class is building: 3 rows of 5 blocks of 24 x 20 m.
    assert len(buildings) == 15
    assert all(400 < b.area_m2 < 560 for b in buildings)

    polygons = list(landcover_polygons(output, raster_classes(output), simplify_m=1.0, min_area_m2=50))
    by_class = {name: [p for p in polygons if p.name == name] for name in ("building", "vegetation", "water")}
    assert len(by_class["building"]) == 15 and len(by_class["water"]) == 1
    assert abs(sum(p.area_m2 for p in by_class["water"]) - 192 * 64) < 400


def test_building_model_refuses_a_landcover_output(scene, tmp_path) -> None:
    from building_extractor.core.extract.pipeline import ExtractionOptions, extract_buildings
    from building_extractor.core.models.model_file import shipped_model_path

    options = ExtractionOptions(shipped_model_path(), device="cpu", landcover_path=str(tmp_path / "lc.tif"))
    with pytest.raises(BuildingExtractorError, match="OUTPUT_LANDCOVER needs a land cover model"):
        list(extract_buildings(scene["image"], options))


def test_class_values_must_be_distinct_and_in_range(scene, tmp_path) -> None:
    from building_extractor.core.train.trainers import make_trainer
    from building_extractor.core.train.training import TrainingOptions, TrainingSource

    source = TrainingSource(scene["image"], class_raster=scene["classes"])
    bad = [{"name": "a", "value": 1}, {"name": "b", "value": 1}]
    with pytest.raises(BuildingExtractorError, match="distinct"):
        make_trainer([source], TrainingOptions(classes=bad), str(tmp_path / "x.safetensors"))


def test_dubai_model_on_a_held_out_group(shared_data, tmp_path) -> None:
    """The committed Dubai model on a 768 px crop of test group 1 (never trained on): every class value is one of
    the model's, and it agrees with the reference far better than chance (MODELS.md: whole group 0.787 / 0.403)."""
    from osgeo import gdal

    from building_extractor.core.extract.landcover import evaluate_landcover, raster_classes
    from building_extractor.core.extract.pipeline import ExtractionOptions, extract_buildings

    model = Path(__file__).resolve().parents[2] / "models" / "landcover_dubai.safetensors"
    crop = {}
    for name in ("tile1", "classes_tile1"):
        crop[name] = str(tmp_path / f"{name}.tif")
        gdal.Translate(crop[name], str(shared_data / "dubai" / f"{name}.tif"), srcWin=[0, 0, 768, 768])
    output = str(tmp_path / "landcover.tif")
    list(extract_buildings(crop["tile1"], ExtractionOptions(str(model), device="cpu", landcover_path=output)))
    classes = raster_classes(output)
    assert [c.value for c in classes] == [1, 2, 3, 4, 5, 6]
    scores = evaluate_landcover(output, crop["classes_tile1"], classes)
    assert scores["overall_accuracy"] > 0.65 and scores["mean_iou"] > 0.2, scores  # this crop: 0.781, 0.255


DUBAI_CLASSES = [{"name": "building", "value": 1}, {"name": "land", "value": 2}, {"name": "road", "value": 3},
                 {"name": "vegetation", "value": 4}, {"name": "water", "value": 5}, {"name": "unlabeled", "value": 6}]


def dubai_class_layers(shared_data: Path, folder: Path, classes: list[dict[str, Any]],
                       size: int = 384) -> dict[str, Any]:
    """A size x size crop of Dubai training group 8 (every class, and a nodata gap), its class raster, and one
    GeoPackage of polygons per class of ``classes`` (GDAL Polygonize of the class raster; the water layer in
    EPSG:4326, so that one layer is reprojected onto the image's grid)."""
    from osgeo import gdal, ogr, osr

    crop = {name: str(folder / f"{name}.tif") for name in ("tile8", "classes_tile8")}
    for name, path in crop.items():
        gdal.Translate(path, str(shared_data / "dubai" / f"{name}.tif"), srcWin=[0, 0, size, size])
    reference = gdal.Open(crop["classes_tile8"])
    band = reference.GetRasterBand(1)
    memory = ogr.GetDriverByName("Memory").CreateDataSource("")
    regions = memory.CreateLayer("regions", reference.GetSpatialRef(), ogr.wkbPolygon)
    regions.CreateField(ogr.FieldDefn("value", ogr.OFTInteger))
    gdal.Polygonize(band, band.GetMaskBand(), regions, 0)
    layers = []
    for item in classes:
        path = str(folder / f"{item['name']}.gpkg")
        srs = reference.GetSpatialRef()
        if item["name"] == "water":
            srs = osr.SpatialReference()
            srs.ImportFromEPSG(4326)
            srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        to_layer = osr.CoordinateTransformation(reference.GetSpatialRef(), srs)
        dataset = ogr.GetDriverByName("GPKG").CreateDataSource(path)
        layer = dataset.CreateLayer(item["name"], srs, ogr.wkbPolygon)
        regions.SetAttributeFilter(f"value = {item['value']}")
        for region in regions:
            feature = ogr.Feature(layer.GetLayerDefn())
            geometry = region.GetGeometryRef().Clone()
            geometry.Transform(to_layer)
            feature.SetGeometry(geometry)
            layer.CreateFeature(feature)
        dataset = None
        layers.append(path)
    return {**crop, "layers": layers}


def test_polygon_layers_label_like_the_class_raster(shared_data, tmp_path) -> None:
    """Real Dubai labels given as one polygon layer per class (one of them in another CRS) burn the same class of
    every pixel as the class raster they were polygonized from; "unlabeled" (no class here) and the nodata gap
    stay unknown both ways."""
    from building_extractor.core.io.labels import IGNORE, class_lookup
    from building_extractor.core.train.landcover_training import LandCoverPlace
    from building_extractor.core.train.training import TrainingSource

    classes = DUBAI_CLASSES[:5]
    data = dubai_class_layers(shared_data, tmp_path, classes)
    lookup = class_lookup([c["value"] for c in classes])
    mean = np.full(3, 0.5, np.float32)
    from_raster = LandCoverPlace(TrainingSource(data["tile8"], class_raster=data["classes_tile8"]), 1.0, 3, lookup)
    from_layers = LandCoverPlace(TrainingSource(data["tile8"], class_layers=list(zip(
        data["layers"], [c["value"] for c in classes]))), 1.0, 3, lookup)
    image, expected = from_raster.read_chip(0, 0, 384, 384, mean)
    same_image, burnt = from_layers.read_chip(0, 0, 384, 384, mean)
    shares = np.bincount(expected.ravel(), minlength=256)[[0, 1, 2, 3, 4, IGNORE]] / expected.size
    assert np.all(shares > 0.02), shares  # every class, and unknown pixels (gap and "unlabeled")
    assert np.array_equal(burnt, expected)
    assert np.array_equal(same_image, image)
