"""Land cover outputs and scores: the classified raster (paletted, class names), polygons per class, and the
comparison of a classified raster with a reference class raster.

The class raster holds each class's value (``ModelConfig.class_value``), 0 where nothing was classified; its
colour table and category names travel inside the GeoTIFF, so any GIS shows the classes.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from affine import Affine
from osgeo import gdal, ogr, osr

from ..errors import BuildingExtractorError, Cancelled, InputRasterError, OutputError
from ..evaluate.landcover_metrics import confusion_matrix, landcover_scores
from ..gdal_scope import gdal_exceptions
from ..io.aligned_raster import AlignedRaster
from ..io.labels import IGNORE, class_lookup
from ..io.raster_source import ProcessingGrid
from ..models.config import DEFAULT_COLORS, ModelConfig
from ..progress import Progress, SilentProgress

CLASSES_KEY = "BUILDING_EXTRACTOR_CLASSES"  # band metadata: the classes as JSON
ROWS_PER_READ = 512  # rows of the reference raster scored at a time (bounded memory on any raster)


@dataclass
class LandCoverClass:
    value: int
    name: str
    color: str  # "#rrggbb"


def model_classes(config: ModelConfig) -> list[LandCoverClass]:
    """The classes of a land cover model, with their raster values and colours."""

    colors = config.class_colors or [DEFAULT_COLORS[i % len(DEFAULT_COLORS)] for i in range(len(config.classes))]
    return [LandCoverClass(config.class_value(i), name, colors[i]) for i, name in enumerate(config.classes)]


def export_landcover(path: str, destination: str, classes: list[LandCoverClass]) -> None:
    """Copy the run's class raster to ``destination`` as a tiled, compressed GeoTIFF with a colour table and
    the class names (atomic: a failed copy leaves nothing)."""
    partial = destination + ".part.tif"
    try:
        with gdal_exceptions():
            dataset = gdal.Translate(partial, path, format="GTiff",
                                     creationOptions=["TILED=YES", "COMPRESS=DEFLATE", "BIGTIFF=IF_SAFER"])
            _describe_classes(dataset.GetRasterBand(1), classes)
            dataset = None
        os.replace(partial, destination)
        if os.path.exists(partial + ".aux.xml"):
            os.replace(partial + ".aux.xml", destination + ".aux.xml")
    except (RuntimeError, OSError) as exc:
        for leftover in (partial, partial + ".aux.xml"):
            if os.path.exists(leftover):
                os.remove(leftover)
        raise OutputError(f"Cannot write the land cover raster {destination}: {exc}. Choose a writable folder "
                          "with enough free space.") from exc


def _describe_classes(band: Any, classes: list[LandCoverClass]) -> None:
    """Colour table, category names (an .aux.xml, for other GIS) and the classes as JSON in the TIFF itself
    (GDAL_METADATA tag, read by :func:`raster_classes`: this GDAL's Python returns no category names)."""
    table = gdal.ColorTable()
    table.SetColorEntry(0, (0, 0, 0, 0))
    names = [""] * (max(c.value for c in classes) + 1)
    for item in classes:
        table.SetColorEntry(item.value, (*hex_rgb(item.color), 255))
        names[item.value] = item.name
    band.SetRasterColorTable(table)
    band.SetRasterColorInterpretation(gdal.GCI_PaletteIndex)
    band.SetCategoryNames(names)
    band.SetMetadataItem(CLASSES_KEY, json.dumps([asdict(c) for c in classes]))
    band.SetNoDataValue(0)


def hex_rgb(colour: str) -> tuple[int, int, int]:
    """(r, g, b) of "#rrggbb"; grey for anything else."""
    text = colour.lstrip("#")
    try:
        return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)
    except ValueError:
        return 128, 128, 128


def raster_classes(path: str) -> list[LandCoverClass]:
    """The classes of a class raster written by :func:`export_landcover`, or [] for other rasters."""
    try:
        with gdal_exceptions():
            dataset = gdal.Open(path)
            text = dataset.GetRasterBand(1).GetMetadataItem(CLASSES_KEY)
            dataset = None
    except RuntimeError as exc:
        raise InputRasterError(f"GDAL cannot read the classified raster {path}: {exc}.") from exc
    try:
        return [LandCoverClass(int(c["value"]), str(c["name"]), str(c["color"])) for c in json.loads(text or "[]")]
    except (ValueError, KeyError, TypeError):
        return []


@dataclass
class LandCoverPolygon:
    value: int
    name: str
    wkb: bytes
    area_m2: float


def landcover_polygons(class_raster: str, classes: list[LandCoverClass], simplify_m: float, min_area_m2: float,
                       dst_crs_wkt: str = "", progress: Progress | None = None) -> Iterator[LandCoverPolygon]:
    """One polygon per 4-connected region of each class, simplified (topology kept per polygon), regions smaller
    than ``min_area_m2`` dropped; geometries in ``dst_crs_wkt`` (the raster's CRS when empty). GDAL Polygonize
    streams into a temporary GeoPackage, so no raster or polygon set is held whole."""
    from shapely import wkb

    progress = progress or SilentProgress()
    names = {c.value: c.name for c in classes}
    workdir = tempfile.mkdtemp(prefix="building_extractor_lc_", dir=os.path.dirname(os.path.abspath(class_raster)))
    try:
        with gdal_exceptions():
            dataset = gdal.Open(class_raster)
            band = dataset.GetRasterBand(1)
            store = ogr.GetDriverByName("GPKG").CreateDataSource(os.path.join(workdir, "regions.gpkg"))
            layer = store.CreateLayer("regions", srs=dataset.GetSpatialRef(), geom_type=ogr.wkbPolygon)
            layer.CreateField(ogr.FieldDefn("value", ogr.OFTInteger))
            layer.StartTransaction()
            gdal.Polygonize(band, band.GetMaskBand(), layer, 0, [],
                            callback=lambda *_: 0 if progress.is_canceled() else 1)
            layer.CommitTransaction()
        if progress.is_canceled():
            raise Cancelled()
        transform = _transformation(dataset.GetSpatialRef(), dst_crs_wkt)
        total = max(layer.GetFeatureCount(), 1)
        for i, feature in enumerate(layer):
            if i % 256 == 0:
                progress.set_fraction(i / total)
                if progress.is_canceled():
                    raise Cancelled()
            value, geometry = feature.GetField("value"), feature.GetGeometryRef()
            area = geometry.GetArea()
            if value not in names or area < min_area_m2:
                continue
            polygon = wkb.loads(bytes(geometry.ExportToWkb()))
            if simplify_m > 0:
                polygon = polygon.simplify(simplify_m, preserve_topology=True)
            out = ogr.CreateGeometryFromWkb(polygon.wkb)
            if transform is not None:
                out.Transform(transform)
            yield LandCoverPolygon(value, names[value], bytes(out.ExportToWkb()), float(area))
    finally:
        layer = store = band = dataset = None
        shutil.rmtree(workdir, ignore_errors=True)


def _transformation(source: Any, dst_crs_wkt: str) -> Any:
    """An OSR transformation from the class raster's CRS to ``dst_crs_wkt``, or None when none is needed."""
    if source is None or not dst_crs_wkt:
        return None
    from ..io.raster_source import spatial_reference

    source.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    target = spatial_reference(dst_crs_wkt)
    return None if source.IsSame(target) else osr.CoordinateTransformation(source, target)


def _own_grid(path: str) -> ProcessingGrid:
    """A raster's own pixel grid."""
    try:
        with gdal_exceptions():
            dataset = gdal.Open(path)
    except RuntimeError as exc:
        raise InputRasterError(f"GDAL cannot read the reference raster {path}: {exc}.") from exc
    transform = Affine.from_gdal(*dataset.GetGeoTransform())
    return ProcessingGrid(dataset.GetProjection() or "", transform, dataset.RasterXSize, dataset.RasterYSize,
                          abs(transform.a))


def evaluate_landcover(predicted: str, reference: str, classes: list[LandCoverClass],
                       progress: Progress | None = None) -> dict[str, Any]:
    """Scores of a classified raster against a reference class raster (its grid; the prediction is aligned on it
    by nearest neighbour). Pixels the reference leaves unknown (nodata, or a value that is no class) are not
    scored; reference pixels the prediction leaves empty are counted apart (``unclassified_pixels``)."""

    progress = progress or SilentProgress()
    if len(classes) < 2:
        raise BuildingExtractorError("Land cover evaluation needs at least two classes; the classified raster names "
                                     f"{len(classes)}. Give the model file the raster was made with.")
    lookup = class_lookup([c.value for c in classes])
    count = len(classes)
    matrix = np.zeros((count, count), np.int64)
    unclassified = 0
    ref_grid = _own_grid(reference)
    with AlignedRaster(reference, ref_grid, "reference") as ref, \
            AlignedRaster(predicted, ref_grid, "classified") as pred:
        for row in range(0, ref_grid.height, ROWS_PER_READ):
            if progress.is_canceled():
                raise Cancelled()
            rows = min(ROWS_PER_READ, ref_grid.height - row)
            truth_values, truth_known = ref.read(row, 0, rows, ref_grid.width)
            truth = lookup[np.clip(truth_values, 0, 255).astype(np.uint8)]
            values, seen = pred.read(row, 0, rows, ref_grid.width)
            guess = lookup[np.clip(values, 0, 255).astype(np.uint8)]
            scored = truth_known & (truth != IGNORE)
            unclassified += int(np.count_nonzero(scored & (~seen | (guess == IGNORE))))
            matrix += confusion_matrix(truth, guess, count, scored & seen)
            progress.set_fraction(min(1.0, (row + rows) / ref_grid.height))
    scores = landcover_scores(matrix, [c.name for c in classes])
    scores["unclassified_pixels"] = unclassified
    return scores


def write_landcover_report(scores: dict[str, Any], json_path: str | None, html_path: str | None,
                           title: str = "Land cover evaluation") -> None:
    """The scores as JSON and as an HTML page (summary, per-class table, confusion matrix)."""
    from ..evaluate.report import Section, Table, write_html

    if json_path:
        with open(json_path, "w", encoding="utf-8") as handle:
            json.dump(scores, handle, indent=1)
    if not html_path:
        return
    names = list(scores["classes"])
    per_class = Table(["class", "IoU", "precision", "recall", "F1", "reference pixels", "predicted pixels"],
                      [[n, c["iou"], c["precision"], c["recall"], c["f1"], c["reference_pixels"],
                        c["predicted_pixels"]] for n, c in scores["classes"].items()])
    matrix = scores["confusion_matrix"]["rows_reference_columns_predicted"]
    confusion = Table(["reference \\ predicted", *names], [[n, *row] for n, row in zip(names, matrix)])
    write_html(html_path, title, [
        Section("Summary", {"overall accuracy": scores["overall_accuracy"], "mean IoU": scores["mean_iou"],
                            "mean F1": scores["mean_f1"], "scored pixels": scores["pixels"],
                            "unclassified reference pixels": scores.get("unclassified_pixels", 0)}),
        Section("Per class", tables=[per_class]),
        Section("Confusion matrix (pixels)", text="Rows: reference class; columns: predicted class.",
                tables=[confusion]),
    ])
