"""building_extractor:evaluate_buildings: pixel and building-level metrics of predicted vs reference buildings."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeature,
    QgsFeatureRequest,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsGeometry,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingFeatureSource,
    QgsProcessingOutputNumber,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
    QgsWkbTypes,
)

from ..core.evaluate.metrics import (
    DEFAULT_PIXEL_SIZE_M,
    EvaluationResult,
    PolygonSet,
    evaluate,
    write_html_report,
    write_json,
)
from .base_algorithm import BaseAlgorithm, FeedbackProgress, discards_staged_outputs, run_core
from .compat import FieldType
from .outputs import style_by_category

STATUS_COLOURS = {"TP": "#1a9641", "FP": "#d7191c", "FN": "#2b83ba"}
# Metrics returned as output values (building ones at the first IoU threshold).
NUMBERS = {
    "PIXEL_ACCURACY": ("pixel", "accuracy", "Pixel accuracy"),
    "PIXEL_IOU": ("pixel", "iou", "Pixel IoU"),
    "PIXEL_PRECISION": ("pixel", "precision", "Pixel precision"),
    "PIXEL_RECALL": ("pixel", "recall", "Pixel recall"),
    "PIXEL_F1": ("pixel", "f1", "Pixel F1"),
    "BUILDING_PRECISION": ("building", "precision", "Building precision"),
    "BUILDING_RECALL": ("building", "recall", "Building recall"),
    "BUILDING_F1": ("building", "f1", "Building F1"),
    "BUILDING_TP": ("building", "tp", "Matched buildings (TP)"),
    "BUILDING_FP": ("building", "fp", "Unmatched predicted buildings (FP)"),
    "BUILDING_FN": ("building", "fn", "Missed reference buildings (FN)"),
}


class EvaluateBuildings(BaseAlgorithm):
    """Compares a predicted building layer with reference footprints; marks every building TP, FP or FN."""

    ALGORITHM_ID = "evaluate_buildings"
    DISPLAY_NAME = "Evaluate buildings"
    GROUP_ID = "evaluation"
    GROUP = "Evaluation"

    PREDICTED = "PREDICTED"
    REFERENCE = "REFERENCE"
    AREA = "AREA"
    EXTENT = "EXTENT"
    PIXEL_SIZE = "PIXEL_SIZE"
    IOU_THRESHOLDS = "IOU_THRESHOLDS"
    OUTPUT = "OUTPUT"
    OUTPUT_JSON = "OUTPUT_JSON"
    OUTPUT_HTML = "OUTPUT_HTML"

    def __init__(self) -> None:
        super().__init__()
        self._dest_id: str | None = None

    def initAlgorithm(self, config=None) -> None:
        polygons = [QgsProcessing.TypeVectorPolygon]
        for name, label, optional in ((self.PREDICTED, "Predicted buildings", False),
                                      (self.REFERENCE, "Reference buildings (ground truth)", False),
                                      (self.AREA, "Evaluation area (optional polygons)", True)):
            self.addParameter(QgsProcessingParameterFeatureSource(name, self.tr(label), polygons, optional=optional))
        self.addParameter(QgsProcessingParameterExtent(
            self.EXTENT, self.tr("Evaluation extent (used when no area layer is given)"), optional=True))
        self.add_advanced(QgsProcessingParameterNumber(
            self.PIXEL_SIZE, self.tr("Pixel size for pixel metrics (m)"), QgsProcessingParameterNumber.Double,
            DEFAULT_PIXEL_SIZE_M, minValue=0.01, maxValue=100.0))
        self.add_advanced(QgsProcessingParameterString(
            self.IOU_THRESHOLDS, self.tr("IoU thresholds for building matching (comma separated; the first sets "
                                         "each building's status)"), defaultValue="0.5"))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT, self.tr("Buildings marked TP / FP / FN"), QgsProcessing.TypeVectorPolygon))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_JSON, self.tr("Metrics (JSON)"), self.tr("JSON files (*.json)"), optional=True,
            createByDefault=False))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_HTML, self.tr("Report (HTML)"), self.tr("HTML files (*.html)"), optional=True,
            createByDefault=False))
        for name, (_, _, label) in NUMBERS.items():
            self.addOutput(QgsProcessingOutputNumber(name, self.tr(label)))

    @discards_staged_outputs
    def processAlgorithm(self, parameters, context, feedback):
        predicted = self._source(parameters, self.PREDICTED, context)
        reference = self._source(parameters, self.REFERENCE, context)
        area = self._source(parameters, self.AREA, context, optional=True)
        ref_crs = reference.sourceCrs()
        pred_set, pred_geoms = self._polygons(predicted, "predicted", ref_crs, context)
        ref_set, ref_geoms = self._polygons(reference, "reference", ref_crs, context)
        area_set = self._polygons(area, "area", ref_crs, context)[0] if area is not None else None
        extent = self._extent(parameters, context, ref_crs)
        if area_set is not None and extent is not None:
            feedback.pushWarning(self.tr("Both an area layer and an extent were given: the area layer is used."))
            extent = None
        pixel_size = self.parameterAsDouble(parameters, self.PIXEL_SIZE, context)
        thresholds = self.parameterAsString(parameters, self.IOU_THRESHOLDS, context) or "0.5"
        result: EvaluationResult = run_core(
            evaluate, pred_set, ref_set, area_set, extent, pixel_size=pixel_size, iou_thresholds=thresholds,
            progress=FeedbackProgress(feedback, steps=3))
        dest_id = self._write_layer(parameters, context, reference, result, pred_geoms, ref_geoms)
        outputs: dict[str, Any] = {self.OUTPUT: dest_id}
        inputs = {"predicted": predicted.sourceName(), "reference": reference.sourceName(),
                  "area": area.sourceName() if area is not None else "",
                  "extent": list(extent[0]) if extent else "", "pixel size (m)": pixel_size,
                  "IoU thresholds": result.iou_thresholds}
        for name, writer in ((self.OUTPUT_JSON, write_json), (self.OUTPUT_HTML, write_html_report)):
            path = self.parameterAsFileOutput(parameters, name, context)
            if path:
                run_core(writer, result, path, inputs)
            outputs[name] = path or None
        primary = result.building[result.primary_threshold]
        for name, (group, key, _) in NUMBERS.items():
            outputs[name] = float((result.pixel if group == "pixel" else primary)[key])
        self._log(feedback, result)
        return outputs

    def postProcessAlgorithm(self, context, feedback):
        if self._dest_id:
            style_by_category(self._dest_id, context, "status", STATUS_COLOURS)
        return {}

    # --- helpers --------------------------------------------------------------------------------------
    def _source(self, parameters, name: str, context, optional: bool = False):
        source = self.parameterAsSource(parameters, name, context)
        if source is None:
            if optional and not parameters.get(name):
                return None
            raise QgsProcessingException(self.invalidSourceError(parameters, name))
        return source

    def _polygons(self, source, name: str, dst_crs: QgsCoordinateReferenceSystem, context
                  ) -> tuple[PolygonSet, dict[int, QgsGeometry]]:
        """The source's polygons for the core (own CRS) and its geometries in ``dst_crs`` for the output."""
        from shapely import wkb

        crs = source.sourceCrs()
        if not crs.isValid():
            raise QgsProcessingException(self.tr(
                f"The {name} layer has no valid CRS. Set its CRS (Layer Properties > Source) and try again."))
        transform = QgsCoordinateTransform(crs, dst_crs, context.transformContext())
        shapes, ids, geometries = [], [], {}
        # Invalid geometries are repaired by the core (or reported with the feature id), not dropped.
        skip_checks = QgsProcessingFeatureSource.FlagSkipGeometryValidityChecks
        for feature in source.getFeatures(QgsFeatureRequest(), skip_checks):
            geometry = _flat_geometry(feature.geometry())
            if geometry is None:
                continue
            try:
                shapes.append(wkb.loads(bytes(geometry.asWkb())))
            except Exception as exc:
                raise QgsProcessingException(self.tr(
                    f"Feature {feature.id()} of the {name} layer has a geometry that cannot be read ({exc}). Run "
                    "'Fix geometries' on the layer and try again.")) from exc
            ids.append(feature.id())
            if crs != dst_crs:
                geometry.transform(transform)
            geometries[feature.id()] = geometry
        return PolygonSet(shapes, crs.toWkt(QgsCoordinateReferenceSystem.WKT_PREFERRED), ids, name), geometries

    def _extent(self, parameters, context, ref_crs) -> tuple[tuple[float, float, float, float], str] | None:
        if not parameters.get(self.EXTENT):
            return None
        rect = self.parameterAsExtent(parameters, self.EXTENT, context)
        if rect.isNull() or rect.isEmpty():
            return None
        crs = self.parameterAsExtentCrs(parameters, self.EXTENT, context)
        crs = crs if crs.isValid() else ref_crs
        bounds = (rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum())
        return bounds, crs.toWkt(QgsCoordinateReferenceSystem.WKT_PREFERRED)

    def _write_layer(self, parameters, context, reference, result: EvaluationResult,
                     pred_geoms: dict[int, QgsGeometry], ref_geoms: dict[int, QgsGeometry]) -> str:
        fields = QgsFields()
        fields.append(QgsField("source", FieldType.STRING, len=10))
        fields.append(QgsField("source_id", FieldType.LONG))
        fields.append(QgsField("status", FieldType.STRING, len=2))
        fields.append(QgsField("iou", FieldType.DOUBLE))
        fields.append(QgsField("match_id", FieldType.LONG))
        sink, dest_id = self.staged_sink(parameters, self.OUTPUT, context, fields, QgsWkbTypes.MultiPolygon,
                                         reference.sourceCrs())
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
        for source, items, geometries in (("predicted", result.predicted, pred_geoms),
                                          ("reference", result.reference, ref_geoms)):
            for item in items:
                feature = QgsFeature(fields)
                geometry = QgsGeometry(geometries[item.id])
                geometry.convertToMultiType()
                feature.setGeometry(geometry)
                feature.setAttributes([source, int(item.id), item.status, round(float(item.iou), 6),
                                       int(item.match_id) if item.match_id is not None else None])
                if not sink.addFeature(feature, QgsFeatureSink.FastInsert):
                    raise QgsProcessingException(self.writeFeatureError(sink, parameters, self.OUTPUT))
        del sink  # closed: complete
        self._dest_id = dest_id = self.publish_sink(dest_id, context)
        return dest_id

    def _log(self, feedback, result: EvaluationResult) -> None:
        pixel = result.pixel
        feedback.pushInfo(
            f"Pixel: IoU {pixel['iou']:.4f}, F1 {pixel['f1']:.4f}, precision {pixel['precision']:.4f}, "
            f"recall {pixel['recall']:.4f}, accuracy {pixel['accuracy']:.4f}")
        for threshold, scores in result.building.items():
            feedback.pushInfo(
                f"Buildings at IoU >= {threshold:g}: F1 {scores['f1']:.4f}, precision {scores['precision']:.4f}, "
                f"recall {scores['recall']:.4f} (TP {scores['tp']}, FP {scores['fp']}, FN {scores['fn']})")
        if not result.predicted:
            feedback.pushWarning(self.tr("The prediction has no buildings in the evaluation area."))


def _flat_geometry(geometry: QgsGeometry) -> QgsGeometry | None:
    """A 2D, linear copy of a feature geometry (None when null or empty)."""
    if geometry is None or geometry.isNull() or geometry.isEmpty():
        return None
    flat = QgsGeometry(geometry)
    if QgsWkbTypes.isCurvedType(flat.wkbType()):
        flat.convertToStraightSegment()
    abstract = flat.get()
    abstract.dropZValue()
    abstract.dropMValue()
    return flat
