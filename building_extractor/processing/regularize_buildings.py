"""building_extractor:regularize_buildings: straight walls and right angles for building footprints."""

from __future__ import annotations

from qgis.core import (
    QgsCoordinateTransform,
    QgsFeature,
    QgsFeatureSink,
    QgsField,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterNumber,
    QgsWkbTypes,
)

from ..core.vector.regularize import MODES, RegularizeOptions, regularize_buildings
from .base_algorithm import BaseAlgorithm, FeedbackProgress, discards_staged_outputs, run_core
from .compat import FieldType
from .outputs import style_regularized
from .shapely_bridge import extend_fields, from_shapely, metric_crs, to_shapely

MODE_LABELS = ("Right angles", "Right angles and 45° diagonals", "Any angle (straight edges)", "Circle")
MODE_CHOICES = dict(zip(MODES, MODE_LABELS))  # option name (core.vector.regularize.MODES) -> dialog label


class RegularizeBuildings(BaseAlgorithm):
    """Regularize footprints with an IoU guard; neighbours never come to overlap."""

    ALGORITHM_ID = "regularize_buildings"
    DISPLAY_NAME = "Regularize building footprints"
    GROUP_ID = "postprocessing"
    GROUP = "Post-processing"

    INPUT = "INPUT"
    MODE = "MODE"
    TOLERANCE = "TOLERANCE"
    MIN_IOU = "MIN_IOU"
    MIN_HOLE_AREA = "MIN_HOLE_AREA"
    DETECT_CIRCLES = "DETECT_CIRCLES"
    PREVENT_OVERLAPS = "PREVENT_OVERLAPS"
    OUTPUT = "OUTPUT"

    def __init__(self) -> None:
        super().__init__()
        self._dest_id: str | None = None  # set by processAlgorithm, read by postProcessAlgorithm

    def initAlgorithm(self, config=None) -> None:  # noqa: N802 - QGIS API name
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.INPUT, self.tr("Building footprints"), [QgsProcessing.TypeVectorPolygon]))
        self.addParameter(self.named_enum(self.MODE, "Regularization", MODE_CHOICES))
        self.addParameter(QgsProcessingParameterNumber(
            self.TOLERANCE, self.tr("Tolerance (metres)"), QgsProcessingParameterNumber.Double,
            RegularizeOptions.tolerance, minValue=0.01, maxValue=100.0))
        self.add_advanced(QgsProcessingParameterNumber(
            self.MIN_IOU, self.tr("Keep a regularized shape only if its IoU with the input is at least"),
            QgsProcessingParameterNumber.Double, RegularizeOptions.min_iou, minValue=0.0, maxValue=1.0))
        self.add_advanced(QgsProcessingParameterNumber(
            self.MIN_HOLE_AREA, self.tr("Keep holes (courtyards) larger than (square metres)"),
            QgsProcessingParameterNumber.Double, RegularizeOptions.min_hole_area, minValue=0.0))
        self.add_advanced(QgsProcessingParameterBoolean(
            self.DETECT_CIRCLES, self.tr("Use a circle where a circle fits better"), defaultValue=True))
        self.add_advanced(QgsProcessingParameterBoolean(
            self.PREVENT_OVERLAPS, self.tr("Prevent overlaps between neighbouring buildings"),
            defaultValue=True))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT, self.tr("Regularized buildings"), QgsProcessing.TypeVectorPolygon))

    @discards_staged_outputs
    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS API name
        source = self.parameterAsSource(parameters, self.INPUT, context)
        if source is None:
            raise QgsProcessingException(self.invalidSourceError(parameters, self.INPUT))
        options = RegularizeOptions(
            mode=self.enum_name(parameters, self.MODE, context),
            tolerance=self.parameterAsDouble(parameters, self.TOLERANCE, context),
            min_iou=self.parameterAsDouble(parameters, self.MIN_IOU, context),
            min_hole_area=self.parameterAsDouble(parameters, self.MIN_HOLE_AREA, context),
            detect_circles=self.parameterAsBool(parameters, self.DETECT_CIRCLES, context),
            prevent_overlaps=self.parameterAsBool(parameters, self.PREVENT_OVERLAPS, context))
        crs = source.sourceCrs()
        work_crs = metric_crs(crs, source.sourceExtent(), context.transformContext())
        to_work = QgsCoordinateTransform(crs, work_crs, context.transformContext())
        if work_crs != crs:
            feedback.pushInfo(self.tr("Working in {} (metres).").format(work_crs.authid()))

        features, shapes = [], []
        for feature in source.getFeatures():
            if feedback.isCanceled():
                return {}
            geometry = feature.geometry()
            if not geometry.isNull():
                geometry.transform(to_work)
            features.append(feature)
            shapes.append(to_shapely(geometry))
        if not features:
            raise QgsProcessingException(self.tr("The input layer has no features; choose a layer with "
                                                 "building polygons."))

        results = run_core(regularize_buildings, shapes, options, FeedbackProgress(feedback))
        fields, (i_reg, i_method, i_iou) = extend_fields(source.fields(), [
            QgsField("regularized", FieldType.INT), QgsField("reg_method", FieldType.STRING, len=24),
            QgsField("reg_iou", FieldType.DOUBLE)])
        sink, dest_id = self.staged_sink(parameters, self.OUTPUT, context, fields, QgsWkbTypes.MultiPolygon, crs)
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
        to_layer = QgsCoordinateTransform(work_crs, crs, context.transformContext())
        written = kept = 0
        for feature, result in zip(features, results):
            if result is None:
                feedback.pushWarning(self.tr("Feature {} has no area left (empty or covered by a neighbour); "
                                             "skipped.").format(feature.id()))
                continue
            geometry = from_shapely(result.geometry)
            geometry.transform(to_layer)
            geometry.convertToMultiType()
            attributes = list(feature.attributes()) + [None] * (fields.count() - len(feature.attributes()))
            attributes[i_reg], attributes[i_method] = int(result.regularized), result.method
            attributes[i_iou] = round(result.iou, 4)
            out = QgsFeature(fields)
            out.setGeometry(geometry)
            out.setAttributes(attributes)
            sink.addFeature(out, QgsFeatureSink.FastInsert)
            written += 1
            kept += int(result.regularized)
        if not written:
            raise QgsProcessingException(self.tr("No building could be regularized: the input polygons are "
                                                 "empty. Check the input layer."))
        del sink  # closed: complete
        dest_id = self.publish_sink(dest_id, context)
        feedback.pushInfo(self.tr("{} buildings written, {} regularized, {} kept as simplified input (IoU below "
                                  "{}).").format(written, kept, written - kept, options.min_iou))
        self._dest_id = dest_id
        return {self.OUTPUT: dest_id}

    def postProcessAlgorithm(self, context, feedback):  # noqa: N802 - QGIS API name
        style_regularized(self._dest_id, context)
        return {}
