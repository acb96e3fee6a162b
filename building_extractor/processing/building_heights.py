"""building_extractor:building_heights: per-building heights from an nDSM (or DSM - DTM), LOD1 blocks."""

from __future__ import annotations

import json

from qgis.core import (
    QgsCoordinateTransform,
    QgsFeature,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingParameterBand,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsWkbTypes,
)

from ..core.files import write_text_atomic
from ..core.vector.heights import STATISTICS, block_surfaces, building_heights, cityjson_lod1
from .base_algorithm import BaseAlgorithm, FeedbackProgress, discards_staged_outputs, run_core
from .compat import FieldType
from .outputs import style_blocks, style_heights
from .shapely_bridge import extend_fields, from_shapely, metric_crs, to_shapely

ROOF_CHOICES = {"height_median": "Median (height_median)", "height_mean": "Mean (height_mean)",
                "height_p90": "90th percentile (height_p90)", "height_max": "Maximum (height_max)"}
ROOF_STATISTICS = tuple(ROOF_CHOICES)  # option name = the statistic's field


class BuildingHeights(BaseAlgorithm):
    """Height statistics per footprint from a height raster; optional LOD1 blocks and CityJSON."""

    ALGORITHM_ID = "building_heights"
    DISPLAY_NAME = "Building heights (LOD1)"
    GROUP_ID = "postprocessing"
    GROUP = "Post-processing"

    INPUT = "INPUT"
    HEIGHTS = "HEIGHTS"
    BAND = "BAND"
    DTM = "DTM"
    BUFFER = "BUFFER"
    ROOF = "ROOF"
    OUTPUT = "OUTPUT"
    OUTPUT_3D = "OUTPUT_3D"
    CITYJSON = "CITYJSON"

    def __init__(self) -> None:
        super().__init__()
        self._styles: list[tuple] = []  # set by processAlgorithm, read by postProcessAlgorithm

    def initAlgorithm(self, config=None) -> None:  # noqa: N802 - QGIS API name
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.INPUT, self.tr("Building footprints"), [QgsProcessing.TypeVectorPolygon]))
        self.addParameter(QgsProcessingParameterRasterLayer(
            self.HEIGHTS, self.tr("Height model (nDSM, or a DSM when a DTM is given)")))
        self.addParameter(QgsProcessingParameterBand(
            self.BAND, self.tr("Band"), 1, self.HEIGHTS, optional=True))
        self.addParameter(QgsProcessingParameterRasterLayer(
            self.DTM, self.tr("Terrain model (DTM; height = DSM - DTM)"), optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.BUFFER, self.tr("Inward buffer to skip wall edges (metres)"),
            QgsProcessingParameterNumber.Double, 0.0, minValue=0.0, maxValue=50.0))
        self.add_advanced(self.named_enum(self.ROOF, "Roof height of the LOD1 blocks", ROOF_CHOICES))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT, self.tr("Buildings with heights"), QgsProcessing.TypeVectorPolygon))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT_3D, self.tr("LOD1 blocks (3D, MultiPolygonZ)"), QgsProcessing.TypeVectorPolygon,
            optional=True, createByDefault=False))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.CITYJSON, self.tr("CityJSON LOD1 file"), self.tr("CityJSON (*.city.json *.json)"),
            optional=True, createByDefault=False))

    @discards_staged_outputs
    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS API name
        source = self.parameterAsSource(parameters, self.INPUT, context)
        if source is None:
            raise QgsProcessingException(self.invalidSourceError(parameters, self.INPUT))
        heights = self.parameterAsRasterLayer(parameters, self.HEIGHTS, context)
        if heights is None:
            raise QgsProcessingException(self.tr("Choose a height raster (nDSM, or DSM with a DTM)."))
        dtm = self.parameterAsRasterLayer(parameters, self.DTM, context)
        band = self.parameterAsInt(parameters, self.BAND, context) or 1
        buffer = self.parameterAsDouble(parameters, self.BUFFER, context)
        roof = self.enum_name(parameters, self.ROOF, context)

        crs, tc = source.sourceCrs(), context.transformContext()
        work_crs = metric_crs(crs, source.sourceExtent(), tc)
        to_raster = QgsCoordinateTransform(crs, heights.crs(), tc)
        to_work = QgsCoordinateTransform(crs, work_crs, tc)
        work_to_raster = QgsCoordinateTransform(work_crs, heights.crs(), tc)
        features, footprints, inner, metric = [], [], [], []
        for feature in source.getFeatures():
            geometry = feature.geometry()
            features.append(feature)
            if geometry.isNull() or geometry.isEmpty():
                for column in (footprints, inner, metric):
                    column.append(None)
                continue
            in_work = to_shapely(_transformed(geometry, to_work))
            metric.append(in_work)
            footprints.append(to_shapely(_transformed(geometry, to_raster)))
            shrunk = in_work.buffer(-buffer) if buffer > 0 else None
            inner.append(to_shapely(_transformed(from_shapely(shrunk), work_to_raster))
                         if shrunk is not None and not shrunk.is_empty else None)
        if not features:
            raise QgsProcessingException(self.tr("The input layer has no features; choose a layer with "
                                                 "building polygons."))

        stats = run_core(building_heights, footprints, heights.source(),
                         dtm.source() if dtm is not None else None, band, inner, FeedbackProgress(feedback))
        new = [QgsField(name, FieldType.DOUBLE) for name in STATISTICS] + [QgsField("pixel_count", FieldType.INT)]
        if dtm is not None:
            new.append(QgsField("ground", FieldType.DOUBLE))
        fields, indices = extend_fields(source.fields(), new)
        sink, dest_id = self.staged_sink(parameters, self.OUTPUT, context, fields, source.wkbType(), crs)
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
        rows = []
        for feature, stat in zip(features, stats):
            values = [_round(stat.value(n)) for n in STATISTICS] + [stat.pixel_count]
            if dtm is not None:
                values.append(_round(stat.ground))
            attributes = list(feature.attributes()) + [None] * (fields.count() - len(feature.attributes()))
            for index, value in zip(indices, values):
                attributes[index] = value
            out = QgsFeature(fields)
            out.setGeometry(feature.geometry())
            out.setAttributes(attributes)
            sink.addFeature(out, QgsFeatureSink.FastInsert)
            rows.append(attributes)
        del sink  # closed: complete
        dest_id = self.publish_sink(dest_id, context)
        missing = sum(1 for s in stats if not s.pixel_count)
        feedback.pushInfo(self.tr("{} of {} buildings have heights; {} have no valid height pixel (outside the "
                                  "raster, nodata or too small).").format(len(stats) - missing, len(stats), missing))
        results = {self.OUTPUT: dest_id}
        self._styles = [(style_heights, dest_id, roof)]
        blocks = [(f, s, m) for f, s, m in zip(features, stats, metric) if s.pixel_count and m is not None]
        results.update(self._write_3d(parameters, context, fields, rows, features, stats, roof, crs))
        cityjson = self.parameterAsFileOutput(parameters, self.CITYJSON, context)
        if cityjson:
            items = [(str(f.id()), m, s.ground or 0.0, (s.ground or 0.0) + s.value(roof),
                      {"height": s.value(roof), "height_max": s.height_max, "pixel_count": s.pixel_count})
                     for f, s, m in blocks]
            document = cityjson_lod1(items, work_crs.postgisSrid() or None)
            write_text_atomic(cityjson, json.dumps(document))
            feedback.pushInfo(self.tr("CityJSON with {} LOD1 buildings written to {}.").format(len(items), cityjson))
            results[self.CITYJSON] = cityjson
        return results

    def _write_3d(self, parameters, context, fields: QgsFields, rows, features, stats, roof: str, crs) -> dict:
        """The optional MultiPolygonZ blocks layer (floor, roof and walls of each building)."""
        sink, dest_id = self.staged_sink(parameters, self.OUTPUT_3D, context, fields, QgsWkbTypes.MultiPolygonZ,
                                         crs)
        if sink is None:
            return {}
        from shapely.geometry import MultiPolygon, Polygon

        for feature, attributes, stat in zip(features, rows, stats):
            footprint = to_shapely(feature.geometry())
            if not stat.pixel_count or footprint is None:
                continue
            base = stat.ground or 0.0
            # Rings closed in 3D: a wall's first and last corners share x and y, so GEOS counts its open ring
            # as closed and keeps it open; QGIS's 3D view then drew broken walls (the memory layer of a
            # temporary output keeps the ring as given; GeoPackage closed it on writing).
            faces = [Polygon(*closed_rings(rings)) for rings in block_surfaces(footprint, base,
                                                                              base + stat.value(roof))]
            out = QgsFeature(fields)
            out.setGeometry(from_shapely(MultiPolygon(faces)))
            out.setAttributes(attributes)
            sink.addFeature(out, QgsFeatureSink.FastInsert)
        del sink  # closed: complete
        dest_id = self.publish_sink(dest_id, context)
        self._styles.append((style_blocks, dest_id))
        return {self.OUTPUT_3D: dest_id}

    def postProcessAlgorithm(self, context, feedback):  # noqa: N802 - QGIS API name
        """Heights graduated (and extruded in the 3D view) by the roof statistic; blocks at their own Z."""
        for style, layer_id, *args in self._styles:
            style(layer_id, context, *args)
        return {}


def closed_rings(rings: list) -> tuple[list, list]:
    """(exterior, holes) of a surface from block_surfaces, each ring ending on its first corner."""
    closed = [ring + ring[:1] for ring in rings]
    return closed[0], closed[1:]


def _transformed(geometry, transform):
    geometry = type(geometry)(geometry)
    geometry.transform(transform)
    return geometry


def _round(value):
    return None if value is None else round(value, 3)
