"""Compare predicted building polygons with reference footprints: pixel and building-level metrics.

Everything is measured in metres: polygons are reprojected to one metric CRS (a UTM zone when the data are
geographic or Web Mercator, whose "metres" are not ground metres). Pixel metrics rasterize both layers on a
common grid over the evaluation area, block by block, so memory does not grow with the area. Building
metrics match predicted and reference polygons one to one, greedily by descending IoU (the SpaceNet rule);
a pair counts as a true positive at a threshold when its IoU is at least that threshold.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import BuildingExtractorError
from ..io.labels import rasterize_window
from ..progress import Progress, SilentProgress, check_canceled
from ..vector.spatial_index import SpatialIndex

DEFAULT_PIXEL_SIZE_M = 0.25
DEFAULT_BLOCK_PX = 2048
MIN_AREA_M2 = 1e-6  # clipped pieces smaller than this are rounding noise
MAX_PIXELS = 4_000_000_000  # guard against a wrong CRS or a tiny pixel size over a huge extent


@dataclass
class PolygonSet:
    """Polygons (shapely geometries) in one CRS (WKT or any string rasterio understands), with feature ids."""

    geometries: list[Any]
    crs_wkt: str
    ids: list[Any] | None = None
    name: str = "layer"

    def feature_ids(self) -> list[Any]:
        return list(self.ids) if self.ids is not None else list(range(len(self.geometries)))


@dataclass
class FeatureResult:
    """Match status of one evaluated feature at the primary IoU threshold."""

    id: Any
    status: str  # 'TP', 'FP' (predicted without match) or 'FN' (reference without match)
    iou: float  # IoU with the matched feature if TP, else the best IoU with any overlapping counterpart
    match_id: Any = None  # id of the matched feature in the other layer (TP only)


@dataclass
class EvaluationResult:
    """Pixel metrics, building metrics per IoU threshold and per-feature results."""

    pixel: dict[str, float]
    building: dict[float, dict[str, float]]
    predicted: list[FeatureResult]
    reference: list[FeatureResult]
    crs_wkt: str
    pixel_size_m: float
    area_m2: float
    iou_thresholds: list[float]
    warnings: list[str] = field(default_factory=list)

    @property
    def primary_threshold(self) -> float:
        return self.iou_thresholds[0]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (without the per-feature lists)."""
        primary = self.building[self.primary_threshold]
        return {
            "pixel": dict(self.pixel),
            "building": {f"{t:g}": dict(m) for t, m in self.building.items()},
            "primary_iou_threshold": self.primary_threshold,
            "building_primary": dict(primary),
            "predicted_count": len(self.predicted),
            "reference_count": len(self.reference),
            "pixel_size_m": self.pixel_size_m,
            "area_m2": self.area_m2,
            "crs": _crs_name(self.crs_wkt),
            "warnings": list(self.warnings),
        }


# --- CRS helpers ----------------------------------------------------------------------------------------
def _crs(crs_wkt: str) -> Any:
    from rasterio.crs import CRS

    try:
        return CRS.from_user_input(crs_wkt)
    except Exception as exc:
        raise BuildingExtractorError(f"Unknown coordinate reference system {crs_wkt[:80]!r}: {exc}. "
                                     "Assign a valid CRS to the layer.") from exc


def _crs_name(crs_wkt: str) -> str:
    crs = _crs(crs_wkt)
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_wkt()


def _is_metric_projected(crs: Any) -> bool:
    if not crs.is_projected or crs.to_epsg() in (3857, 900913, 3785, 102100):
        return False
    units = (crs.linear_units or "").lower()
    return units in ("metre", "meter", "m", "metres", "meters")


def metric_crs_for(crs_wkt: str, bounds: tuple[float, float, float, float]) -> str:
    """``crs_wkt`` itself if it is projected in metres (not Web Mercator), else the UTM zone of ``bounds``."""
    from rasterio.warp import transform_bounds

    from ..io.raster_source import utm_crs_for

    crs = _crs(crs_wkt)
    if _is_metric_projected(crs):
        return crs.to_wkt()
    lon0, lat0, lon1, lat1 = transform_bounds(crs, "EPSG:4326", *bounds, densify_pts=21)
    return utm_crs_for((lon0 + lon1) / 2, (lat0 + lat1) / 2).to_wkt()


def check_degrees(polygons: PolygonSet, role: str) -> None:
    """Refuse a layer whose CRS is geographic but whose coordinates lie beyond ±180° / ±90°: projected
    coordinates (metres) read as degrees, typically a GeoJSON without a "crs" member (RFC 7946 reads it as WGS 84)."""
    if not polygons.geometries or not _crs(polygons.crs_wkt).is_geographic:
        return
    boxes = np.array([g.bounds for g in polygons.geometries if not g.is_empty], float)
    if boxes.size == 0:
        return
    xmin, ymin = boxes[:, 0].min(), boxes[:, 1].min()
    xmax, ymax = boxes[:, 2].max(), boxes[:, 3].max()
    if -180.5 <= xmin and xmax <= 360.5 and -90.5 <= ymin and ymax <= 90.5:
        return
    layer = f"The {role} layer" if polygons.name == role else f"The {role} layer '{polygons.name}'"
    raise BuildingExtractorError(
        f"{layer} is in a geographic CRS ({_crs_name(polygons.crs_wkt)}), but its "
        f"coordinates span x {xmin:.6g} to {xmax:.6g}, y {ymin:.6g} to {ymax:.6g}, beyond ±180° / ±90°: they are "
        "projected coordinates (e.g. metres) read as degrees. A GeoJSON file without a \"crs\" member is read as "
        "WGS 84 longitude/latitude. Give the layer its real CRS (Layer Properties ▸ Source ▸ Assign CRS, or "
        "Export ▸ Save Features As a GeoPackage in that CRS, or a GeoJSON in WGS 84) and run again."
    )


def reproject(geometries: Sequence[Any], src_crs_wkt: str, dst_crs_wkt: str) -> list[Any]:
    """Shapely geometries reprojected from one CRS to another (unchanged when the CRSs are equal)."""
    from rasterio.warp import transform_geom
    from shapely.geometry import mapping, shape

    src, dst = _crs(src_crs_wkt), _crs(dst_crs_wkt)
    if src == dst or not geometries:
        return list(geometries)
    out = transform_geom(src, dst, [mapping(g) for g in geometries])
    return [shape(g) for g in out]


# --- geometry cleaning and spatial index ----------------------------------------------------------------
def _polygonal(geom: Any) -> Any:
    """The polygonal part of a geometry (drops points/lines a repair may leave behind)."""
    from shapely.geometry import MultiPolygon

    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    if geom.geom_type == "GeometryCollection":
        parts = [p for g in geom.geoms for p in getattr(_polygonal(g), "geoms", [_polygonal(g)])
                 if p.geom_type == "Polygon" and not p.is_empty]
        return MultiPolygon(parts) if parts else MultiPolygon()
    return MultiPolygon()


def clean_polygons(polygons: PolygonSet, progress: Progress) -> PolygonSet:
    """Drop null/empty geometries, repair invalid ones; raise when a geometry cannot be repaired."""
    from shapely.validation import explain_validity, make_valid

    kept, ids, skipped = [], [], 0
    for fid, geom in zip(polygons.feature_ids(), polygons.geometries):
        if geom is None or geom.is_empty:
            skipped += 1
            continue
        if not geom.is_valid:
            reason = explain_validity(geom)
            fixed = _polygonal(make_valid(geom))
            if not fixed.is_valid or fixed.is_empty or fixed.area <= 0:
                raise BuildingExtractorError(
                    f"Feature {fid} of the {polygons.name} layer has an invalid geometry ({reason}) that cannot "
                    "be repaired. Run 'Fix geometries' on the layer or delete that feature, then try again.")
            geom = fixed
        if geom.geom_type not in ("Polygon", "MultiPolygon") or geom.area <= 0:
            skipped += 1
            continue
        kept.append(geom)
        ids.append(fid)
    if skipped:
        progress.warning(f"{skipped} empty or non-polygon feature(s) of the {polygons.name} layer were skipped.")
    return PolygonSet(kept, polygons.crs_wkt, ids, polygons.name)


# --- pixel metrics --------------------------------------------------------------------------------------
def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den > 0 else 0.0


def pixel_scores(tp: int, fp: int, fn: int, tn: int) -> dict[str, float]:
    """Accuracy, IoU, precision, recall, F1 from pixel counts (0 where a denominator is 0)."""
    return {
        "accuracy": _ratio(tp + tn, tp + fp + fn + tn),
        "iou": _ratio(tp, tp + fp + fn),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "tp_px": int(tp), "fp_px": int(fp), "fn_px": int(fn), "tn_px": int(tn),
    }


def pixel_metrics(predicted: Sequence[Any], reference: Sequence[Any], area: Sequence[Any],
                  pixel_size: float = DEFAULT_PIXEL_SIZE_M, block_px: int = DEFAULT_BLOCK_PX,
                  progress: Progress | None = None) -> dict[str, float]:
    """Pixel confusion counts and scores of metric-CRS polygons inside the union of ``area`` polygons.

    The grid is aligned to multiples of ``pixel_size``; a pixel belongs to a polygon when its centre does.
    Blocks of ``block_px`` × ``block_px`` pixels are rasterized one at a time.
    """
    from affine import Affine
    from shapely.geometry import box

    progress = progress or SilentProgress()
    if pixel_size <= 0:
        raise BuildingExtractorError(f"Pixel size must be positive (got {pixel_size}); 0.25 m is a good default.")
    x0, y0, x1, y1 = _bounds_of(area)
    x0, y0 = math.floor(x0 / pixel_size) * pixel_size, math.floor(y0 / pixel_size) * pixel_size
    width = max(1, math.ceil((x1 - x0) / pixel_size - 1e-9))
    height = max(1, math.ceil((y1 - y0) / pixel_size - 1e-9))
    if width * height > MAX_PIXELS:
        raise BuildingExtractorError(
            f"The evaluation area is {width} x {height} pixels at {pixel_size} m: too large. Give a smaller area or "
            "extent, or a larger pixel size (check also that the layers' CRSs are right).")
    top = y0 + height * pixel_size
    indexes = [SpatialIndex(predicted), SpatialIndex(reference), SpatialIndex(area)]
    counts = np.zeros(4, np.int64)  # tp, fp, fn, tn
    blocks = [(r, c) for r in range(0, height, block_px) for c in range(0, width, block_px)]
    for done, (row, col) in enumerate(blocks):
        check_canceled(progress)
        h, w = min(block_px, height - row), min(block_px, width - col)
        transform = Affine(pixel_size, 0, x0 + col * pixel_size, 0, -pixel_size, top - row * pixel_size)
        window = box(transform.c, transform.f - h * pixel_size, transform.c + w * pixel_size, transform.f)
        pred, ref, inside = (
            rasterize_window([index.geometries[i] for i in index.query(window)], transform, (h, w)).astype(bool)
            for index in indexes)
        counts += (np.count_nonzero(pred & ref & inside), np.count_nonzero(pred & ~ref & inside),
                   np.count_nonzero(~pred & ref & inside), np.count_nonzero(~pred & ~ref & inside))
        progress.set_fraction((done + 1) / len(blocks))
    return pixel_scores(*counts.tolist())


def _bounds_of(geometries: Iterable[Any]) -> tuple[float, float, float, float]:
    boxes = np.array([g.bounds for g in geometries if not g.is_empty], float)
    if boxes.size == 0:
        raise BuildingExtractorError("The evaluation area is empty: give an area layer or extent with polygons.")
    return float(boxes[:, 0].min()), float(boxes[:, 1].min()), float(boxes[:, 2].max()), float(boxes[:, 3].max())


# --- building matching ----------------------------------------------------------------------------------
def candidate_pairs(predicted: Sequence[Any], reference: Sequence[Any]) -> list[tuple[float, int, int]]:
    """(IoU, predicted index, reference index) of every overlapping pair, highest IoU first."""
    index = SpatialIndex(reference)
    pairs = []
    for i, pred in enumerate(predicted):
        for j in index.query(pred):
            ref = reference[j]
            inter = pred.intersection(ref).area
            if inter <= 0:
                continue
            iou = inter / (pred.area + ref.area - inter)
            pairs.append((iou, i, j))
    pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
    return pairs


def greedy_matches(pairs: Sequence[tuple[float, int, int]]) -> list[tuple[float, int, int]]:
    """One-to-one matches taken greedily by descending IoU.

    As pairs are taken in order of IoU, the matches with IoU >= t are exactly what greedy matching restricted to
    pairs with IoU >= t gives, so one pass serves every threshold.
    """
    used_pred: set[int] = set()
    used_ref: set[int] = set()
    matches = []
    for iou, i, j in pairs:
        if i in used_pred or j in used_ref:
            continue
        used_pred.add(i)
        used_ref.add(j)
        matches.append((iou, i, j))
    return matches


def building_scores(matched_ious: Sequence[float], n_predicted: int, n_reference: int,
                    threshold: float) -> dict[str, float]:
    """Precision, recall, F1 and counts at one IoU threshold (0 where a denominator is 0)."""
    tp = sum(1 for iou in matched_ious if iou >= threshold - 1e-12)
    fp, fn = n_predicted - tp, n_reference - tp
    return {"precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn), "f1": _ratio(2 * tp, 2 * tp + fp + fn),
            "tp": tp, "fp": fp, "fn": fn}


def parse_thresholds(text: str | Sequence[float]) -> list[float]:
    """IoU thresholds from '0.5, 0.75' or a sequence; the first is the primary one (feature status)."""
    if isinstance(text, str):
        items = [t for t in text.replace(";", ",").replace(" ", ",").split(",") if t.strip()]
    else:
        items = list(text)
    try:
        values = [float(t) for t in items]
    except ValueError as exc:
        raise BuildingExtractorError(f"IoU thresholds must be numbers between 0 and 1 separated by commas, "
                                     f"e.g. '0.5, 0.75' (got {text!r}).") from exc
    if not values:
        values = [0.5]
    bad = [v for v in values if not 0 < v <= 1]
    if bad:
        raise BuildingExtractorError(f"IoU thresholds must lie in (0, 1]; got {bad}. The SpaceNet rule uses 0.5.")
    return list(dict.fromkeys(values))


# --- the whole evaluation -------------------------------------------------------------------------------
def _area_geometries(predicted: PolygonSet, reference: PolygonSet, area: PolygonSet | None,
                     extent: tuple[tuple[float, float, float, float], str] | None, metric_wkt: str,
                     progress: Progress) -> list[Any]:
    from shapely.geometry import box

    if area is not None:
        if extent is not None:
            progress.warning("Both an area layer and an extent were given: the area layer is used.")
        geoms = reproject(clean_polygons(area, progress).geometries, area.crs_wkt, metric_wkt)
        if not geoms:
            raise BuildingExtractorError("The area layer has no polygons. Give an area layer with polygons, "
                                         "or leave it empty to evaluate over both layers' extent.")
        return geoms
    if extent is not None:
        bounds, crs_wkt = extent
        if not (bounds[2] > bounds[0] and bounds[3] > bounds[1]):
            raise BuildingExtractorError(f"The extent {bounds} is empty; give xmin < xmax and ymin < ymax.")
        return reproject([box(*bounds)], crs_wkt, metric_wkt)
    geoms = predicted.geometries + reference.geometries
    return [box(*_bounds_of(geoms))]


def evaluate(predicted: PolygonSet, reference: PolygonSet, area: PolygonSet | None = None,
             extent: tuple[tuple[float, float, float, float], str] | None = None,
             pixel_size: float = DEFAULT_PIXEL_SIZE_M, iou_thresholds: str | Sequence[float] = (0.5,),
             block_px: int = DEFAULT_BLOCK_PX, progress: Progress | None = None) -> EvaluationResult:
    """Evaluate predicted polygons against reference polygons.

    The evaluation area is ``area`` (polygons) if given, else ``extent`` ((xmin, ymin, xmax, ymax), CRS), else
    the union of both layers' bounds. Buildings that meet the area are matched on their part inside it (a model
    cannot be asked to find what lies outside the imagery); pixels are counted inside the area only. The first
    IoU threshold decides each feature's status.
    """
    progress = _Recorder(progress or SilentProgress())
    thresholds = parse_thresholds(iou_thresholds)
    predicted, reference = clean_polygons(predicted, progress), clean_polygons(reference, progress)
    check_degrees(predicted, "predicted")
    check_degrees(reference, "reference")
    if area is not None:
        check_degrees(area, "area")
    if not reference.geometries:
        raise BuildingExtractorError("The reference layer has no building polygons. Give a reference layer with "
                                     "footprints of the area the prediction covers.")
    progress.set_stage(0, "Reprojecting to a metric CRS")
    ref_bounds = _bounds_of(reference.geometries)
    metric_wkt = metric_crs_for(reference.crs_wkt, ref_bounds)
    pred_m = PolygonSet(reproject(predicted.geometries, predicted.crs_wkt, metric_wkt), metric_wkt,
                        predicted.ids, predicted.name)
    ref_m = PolygonSet(reproject(reference.geometries, reference.crs_wkt, metric_wkt), metric_wkt,
                       reference.ids, reference.name)
    area_geoms = _area_geometries(pred_m, ref_m, area, extent, metric_wkt, progress)
    pred_m, ref_m = _inside(pred_m, area_geoms), _inside(ref_m, area_geoms)
    if not ref_m.geometries:
        raise BuildingExtractorError(
            "No reference building lies in the evaluation area: the area/extent and the reference layer do not "
            "overlap. Check the area or extent and the layers' CRSs.")
    if predicted.geometries and not pred_m.geometries:
        progress.warning("No predicted building lies in the evaluation area; the prediction counts as empty.")
    if predicted.geometries and area is None and extent is None and not _boxes_meet(
            _bounds_of(pred_m.geometries), _bounds_of(ref_m.geometries)):
        raise BuildingExtractorError(
            "The predicted and reference layers do not overlap at all. Check that they cover the same place and "
            "that both layers have the right CRS.")
    progress.set_stage(1, "Pixel metrics")
    pixel = pixel_metrics(pred_m.geometries, ref_m.geometries, area_geoms, pixel_size, block_px, progress)
    progress.set_stage(2, "Building matching")
    check_canceled(progress)
    pairs = candidate_pairs(pred_m.geometries, ref_m.geometries)
    matches = greedy_matches(pairs)
    ious = [m[0] for m in matches]
    n_pred, n_ref = len(pred_m.geometries), len(ref_m.geometries)
    building = {t: building_scores(ious, n_pred, n_ref, t) for t in thresholds}
    pred_results, ref_results = _feature_results(pred_m, ref_m, pairs, matches, thresholds[0])
    area_m2 = float(sum(g.area for g in _union(area_geoms)))
    return EvaluationResult(pixel, building, pred_results, ref_results, metric_wkt, pixel_size, area_m2,
                            thresholds, progress.warnings)


class _Recorder:
    """Forwards to a Progress and keeps the warnings for the result."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.warnings: list[str] = []

    def set_stage(self, index: int, name: str) -> None:
        self.progress.set_stage(index, name)

    def set_fraction(self, fraction: float) -> None:
        self.progress.set_fraction(fraction)

    def info(self, message: str) -> None:
        self.progress.info(message)

    def warning(self, message: str) -> None:
        self.warnings.append(message)
        self.progress.warning(message)

    def is_canceled(self) -> bool:
        return self.progress.is_canceled()


def _union(geoms: Sequence[Any]) -> list[Any]:
    from shapely.ops import unary_union

    union = unary_union(list(geoms))
    return list(getattr(union, "geoms", [union]))


def _boxes_meet(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def _inside(polygons: PolygonSet, area_geoms: Sequence[Any]) -> PolygonSet:
    """The polygons that meet the evaluation area, clipped to it (parts outside cannot be predicted or scored)."""
    from shapely.ops import unary_union
    from shapely.prepared import prep

    area = unary_union(list(area_geoms))
    prepared = prep(area)
    ids = polygons.feature_ids()
    kept, kept_ids = [], []
    for fid, geom in zip(ids, polygons.geometries):
        if not prepared.intersects(geom):
            continue
        if not prepared.contains(geom):
            geom = _polygonal(geom.intersection(area))
            if geom.is_empty or geom.area <= MIN_AREA_M2:
                continue
        kept.append(geom)
        kept_ids.append(fid)
    return PolygonSet(kept, polygons.crs_wkt, kept_ids, polygons.name)


def _feature_results(pred: PolygonSet, ref: PolygonSet, pairs: Sequence[tuple[float, int, int]],
                     matches: Sequence[tuple[float, int, int]], threshold: float
                     ) -> tuple[list[FeatureResult], list[FeatureResult]]:
    best_pred = [0.0] * len(pred.geometries)
    best_ref = [0.0] * len(ref.geometries)
    for iou, i, j in pairs:
        best_pred[i] = max(best_pred[i], iou)
        best_ref[j] = max(best_ref[j], iou)
    pred_ids, ref_ids = pred.feature_ids(), ref.feature_ids()
    pred_out = [FeatureResult(pred_ids[i], "FP", best_pred[i]) for i in range(len(pred_ids))]
    ref_out = [FeatureResult(ref_ids[j], "FN", best_ref[j]) for j in range(len(ref_ids))]
    for iou, i, j in matches:
        if iou >= threshold - 1e-12:
            pred_out[i] = FeatureResult(pred_ids[i], "TP", iou, ref_ids[j])
            ref_out[j] = FeatureResult(ref_ids[j], "TP", iou, pred_ids[i])
    return pred_out, ref_out


def read_polygon_set(path: str, layer: str | int | None = None, name: str = "layer") -> PolygonSet:
    """Polygons of any OGR file in the file's own CRS (EPSG:4326 when it declares none, as GeoJSON does)."""
    import fiona

    from ..io.labels import read_polygons

    try:
        with (fiona.open(path, layer=layer) if layer is not None else fiona.open(path)) as collection:
            crs_wkt = collection.crs_wkt or _crs("EPSG:4326").to_wkt()
    except Exception as exc:
        raise BuildingExtractorError(f"Cannot read the {name} layer from {path}: {exc}") from exc
    return PolygonSet(read_polygons(path, crs_wkt, layer=layer), crs_wkt, name=name)


def evaluate_files(predicted: str, reference: str, area: str | None = None,
                   extent: tuple[tuple[float, float, float, float], str] | None = None, **kwargs: Any
                   ) -> EvaluationResult:
    """:func:`evaluate` on OGR files (GeoPackage, GeoJSON, Shapefile, ...)."""
    return evaluate(read_polygon_set(predicted, name="predicted"), read_polygon_set(reference, name="reference"),
                    read_polygon_set(area, name="area") if area else None, extent, **kwargs)


# --- outputs --------------------------------------------------------------------------------------------
def write_json(result: EvaluationResult, path: str, inputs: Mapping[str, Any] | None = None) -> str:
    """Write the metrics (and the inputs that produced them) as JSON; return the path."""
    import json

    from ..files import write_text_atomic

    data = {"inputs": dict(inputs or {}), **result.to_dict()}
    return write_text_atomic(path, json.dumps(data, indent=2, default=str))


def _figures(result: EvaluationResult) -> list[Any]:
    from matplotlib.figure import Figure

    figures = []
    thresholds = sorted(result.building)
    fig = Figure(figsize=(5, 3.2))
    ax = fig.add_subplot()
    for key in ("precision", "recall", "f1"):
        values = [result.building[t][key] for t in thresholds]
        ax.plot(thresholds, values, marker="o", label=key)
    ax.set_xlabel("IoU threshold")
    ax.set_ylim(0, 1.02)
    ax.set_title("Building-level scores")
    ax.legend()
    ax.grid(alpha=0.3)
    figures.append(fig)
    fig = Figure(figsize=(5, 3.2))
    ax = fig.add_subplot()
    bins = np.linspace(0, 1, 21)
    ax.hist([r.iou for r in result.reference], bins=bins, alpha=0.7, label="reference (best IoU)")
    ax.hist([r.iou for r in result.predicted], bins=bins, alpha=0.5, label="predicted (best IoU)")
    ax.axvline(result.primary_threshold, color="k", linestyle="--", linewidth=1)
    ax.set_xlabel("IoU with the best-overlapping building")
    ax.set_ylabel("buildings")
    ax.legend()
    figures.append(fig)
    return figures


def report_sections(result: EvaluationResult, inputs: Mapping[str, Any] | None = None) -> list[Any]:
    """Report sections (see :mod:`.report`) for an evaluation."""
    from .report import Section, Table

    summary = result.to_dict()
    pixel_keys = ("accuracy", "iou", "precision", "recall", "f1", "tp_px", "fp_px", "fn_px", "tn_px")
    rows = [[t, m["precision"], m["recall"], m["f1"], m["tp"], m["fp"], m["fn"]] for t, m in result.building.items()]
    sections = [
        Section("Pixel metrics", {k: result.pixel[k] for k in pixel_keys},
                text=f"Both layers rasterized at {result.pixel_size_m:g} m in {summary['crs']} over "
                     f"{result.area_m2:.0f} m² (a pixel is a building when its centre lies in a polygon)."),
        Section("Building metrics",
                text="One-to-one matching, greedy by descending polygon IoU (SpaceNet rule). A predicted building "
                     "is a true positive when its match has IoU at least the threshold.",
                tables=[Table(["IoU threshold", "precision", "recall", "F1", "TP", "FP", "FN"], rows)],
                figures=_figures(result)),
        Section("Inputs", {**dict(inputs or {}), "predicted buildings evaluated": len(result.predicted),
                           "reference buildings evaluated": len(result.reference)}),
    ]
    if result.warnings:
        sections.append(Section("Warnings", text="\n\n".join(result.warnings)))
    return sections


def write_html_report(result: EvaluationResult, path: str, inputs: Mapping[str, Any] | None = None) -> str:
    """Write the HTML report of an evaluation; return the path."""
    from .report import write_html

    return write_html(path, "Building extraction evaluation", report_sections(result, inputs),
                      subtitle="building_extractor:evaluate_buildings")
