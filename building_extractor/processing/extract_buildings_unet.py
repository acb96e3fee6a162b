"""building_extractor:extract_buildings_unet — building footprints from a raster with a U-Net."""

from __future__ import annotations

import os
from typing import Any

from qgis.core import (
    QgsFeature,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsGeometry,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingParameterBand,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QVariant

from ..core.errors import BuildingExtractorError
from ..core.pipeline import STAGES, ExtractionOptions, ExtractionRun, extract_buildings
from ..core.vectorize import PostProcessOptions
from .base_algorithm import BaseAlgorithm, FeedbackProgress, default_model_path
from .outputs import discard_output, style_by_confidence

FIELDS = (("id", QVariant.Int), ("confidence", QVariant.Double), ("max_probability", QVariant.Double),
          ("area_m2", QVariant.Double), ("perimeter_m", QVariant.Double))


class ExtractBuildingsUnet(BaseAlgorithm):
    """Map parameters onto :func:`building_extractor.core.pipeline.extract_buildings` and back."""

    ALGORITHM_ID = "extract_buildings_unet"
    DISPLAY_NAME = "Extract buildings (U-Net)"
    GROUP_ID = "extraction"
    GROUP = "Extraction"

    INPUT, BANDS, MODEL, RESOLUTION, DEVICE = "INPUT", "BANDS", "MODEL", "RESOLUTION", "DEVICE"
    BATCH_SIZE, TILE_SIZE, OVERLAP, THRESHOLD = "BATCH_SIZE", "TILE_SIZE", "OVERLAP", "THRESHOLD"
    MIN_AREA, SIMPLIFY, FILL_HOLES = "MIN_AREA", "SIMPLIFY", "FILL_HOLES"
    OUTPUT, OUTPUT_PROBABILITY = "OUTPUT", "OUTPUT_PROBABILITY"

    def __init__(self) -> None:
        super().__init__()
        self.output_id: str | None = None

    def initAlgorithm(self, config: dict | None = None) -> None:  # noqa: N802 - QGIS API name
        number = QgsProcessingParameterNumber
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, self.tr("Input raster (RGB imagery)")))
        self.add_advanced(QgsProcessingParameterBand(
            self.BANDS, self.tr("Bands (default: red, green, blue by colour interpretation, else the first 3)"),
            parentLayerParameterName=self.INPUT, optional=True, allowMultiple=True))
        self.add_model_parameter(self.MODEL, "Model file (empty: default model shipped with the plugin)")
        self.addParameter(number(self.RESOLUTION, self.tr("Processing resolution in m/px (empty: the model's; 0: native)"),
                                 number.Double, None, optional=True, minValue=0.0))
        self.add_device_parameters(self.DEVICE, self.BATCH_SIZE, 4)
        self.add_advanced(number(self.TILE_SIZE, self.tr("Tile size in px (empty: the model's)"), number.Integer,
                                 None, optional=True, minValue=32, maxValue=8192))
        self.add_advanced(number(self.OVERLAP, self.tr("Tile overlap in px, or a fraction of the tile below 1 "
                                                       "(empty: the model's)"), number.Double, None, optional=True,
                                 minValue=0.0))
        self.add_advanced(number(self.THRESHOLD, self.tr("Building probability threshold (empty: the model's tuned "
                                                         "value)"), number.Double, None, optional=True,
                                 minValue=0.01, maxValue=0.99))
        self.addParameter(number(self.MIN_AREA, self.tr("Minimum building area (m²)"), number.Double, 4.0,
                                 minValue=0.0))
        self.addParameter(number(self.SIMPLIFY, self.tr("Simplification tolerance (m)"), number.Double, 0.25,
                                 minValue=0.0))
        self.add_advanced(number(self.FILL_HOLES, self.tr("Fill holes smaller than (m²)"), number.Double, 4.0,
                                 minValue=0.0))
        self.addParameter(QgsProcessingParameterFeatureSink(self.OUTPUT, self.tr("Buildings"),
                                                            QgsProcessing.TypeVectorPolygon))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT_PROBABILITY, self.tr("Building probability (0-255)"), optional=True,
            createByDefault=False))

    def checkParameterValues(self, parameters: dict, context: Any) -> tuple[bool, str]:  # noqa: N802
        ok, message = super().checkParameterValues(parameters, context)
        if not ok:
            return ok, message
        tile = self._optional_number(parameters, self.TILE_SIZE, context, integer=True)
        overlap = self._optional_number(parameters, self.OVERLAP, context)
        if tile is not None and tile % 32:
            return False, self.tr(f"TILE_SIZE must be a multiple of 32 (the U-Net's stride); {tile} is not. "
                                  f"Use {(tile + 31) // 32 * 32}.")
        if overlap is not None and overlap >= 1 and overlap >= (tile or 512):
            return False, self.tr(f"OVERLAP ({overlap:g} px) must be smaller than TILE_SIZE ({tile or 512} px).")
        return True, ""

    def _optional_number(self, parameters: dict, name: str, context: Any, integer: bool = False) -> Any:
        if parameters.get(name) in (None, ""):
            return None
        return (self.parameterAsInt if integer else self.parameterAsDouble)(parameters, name, context)

    def processAlgorithm(self, parameters: dict, context: Any, feedback: Any) -> dict:  # noqa: N802
        self.checkDependencies()
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        if layer is None:
            raise QgsProcessingException(self.invalidRasterError(parameters, self.INPUT))
        raster_path = raster_file_path(layer)
        options = ExtractionOptions(
            model_path=self.parameterAsFile(parameters, self.MODEL, context) or default_model_path(),
            gsd_m=self._optional_number(parameters, self.RESOLUTION, context),
            bands=self.parameterAsInts(parameters, self.BANDS, context) or None,
            device=self.parameterAsEnumString(parameters, self.DEVICE, context),
            batch_size=self.parameterAsInt(parameters, self.BATCH_SIZE, context),
            tile_size=self._optional_number(parameters, self.TILE_SIZE, context, integer=True),
            overlap=self._optional_number(parameters, self.OVERLAP, context),
            threshold=self._optional_number(parameters, self.THRESHOLD, context),
            post=PostProcessOptions(
                min_area_m2=self.parameterAsDouble(parameters, self.MIN_AREA, context),
                simplify_m=self.parameterAsDouble(parameters, self.SIMPLIFY, context),
                fill_holes_m2=self.parameterAsDouble(parameters, self.FILL_HOLES, context)),
            probability_path=self.parameterAsOutputLayer(parameters, self.OUTPUT_PROBABILITY, context) or None,
        )
        progress = FeedbackProgress(feedback, steps=len(STAGES))
        run = ExtractionRun(None)
        buildings = extract_buildings(raster_path, options, progress, run)
        sink, dest_id = None, None
        try:
            first = next(buildings, None)  # runs read/infer/stitch/vectorize before any output exists
            sink, dest_id = self._create_sink(parameters, context, layer)
            for building in ([first] if first else []):
                self._add(sink, building)
            for building in buildings:
                self._add(sink, building)
        except BaseException as exc:
            buildings.close()
            del sink
            discard_output(self.parameterAsOutputLayer(parameters, self.OUTPUT, context), dest_id)
            if options.probability_path:
                discard_output(options.probability_path, None)
            if isinstance(exc, BuildingExtractorError):  # Cancelled included: the run fails, nothing is left
                raise QgsProcessingException(str(exc)) from exc
            raise
        if run.building_count == 0:
            feedback.reportError(self.tr("No buildings were found; the output layer is empty. Check the raster shows "
                                         "buildings at a resolution near the model's "
                                         f"({run.config.gsd_m} m) and try a lower THRESHOLD."), fatalError=False)
        feedback.pushInfo(self.tr(f"{run.building_count} buildings written. Stage times (s): "
                                  + ", ".join(f"{k} {v:.1f}" for k, v in run.timings.items())))
        self.output_id = dest_id
        results = {self.OUTPUT: dest_id}
        if options.probability_path:
            results[self.OUTPUT_PROBABILITY] = options.probability_path
        return results

    def _create_sink(self, parameters: dict, context: Any, layer: Any) -> tuple[Any, str]:
        fields = QgsFields()
        for name, kind in FIELDS:
            fields.append(QgsField(name, kind))
        sink, dest_id = self.parameterAsSink(parameters, self.OUTPUT, context, fields, QgsWkbTypes.MultiPolygon,
                                             layer.crs())
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
        return sink, dest_id

    def _add(self, sink: Any, building: Any) -> None:
        geometry = QgsGeometry()
        geometry.fromWkb(building.wkb)
        geometry.convertToMultiType()
        feature = QgsFeature()
        feature.setGeometry(geometry)
        feature.setAttributes([building.id, building.confidence, building.max_probability, building.area_m2,
                               building.perimeter_m])
        if not sink.addFeature(feature, QgsFeatureSink.FastInsert):
            raise QgsProcessingException(self.tr(f"Could not write building {building.id} to the output: "
                                                 f"{sink.lastError()}"))

    def postProcessAlgorithm(self, context: Any, feedback: Any) -> dict:  # noqa: N802
        if self.output_id:
            style_by_confidence(self.output_id, context)
        return {}


def raster_file_path(layer: Any) -> str:
    """The file GDAL reads for a raster layer; other providers are refused with a clear message."""
    if layer.providerType() != "gdal":
        raise QgsProcessingException(
            f"Layer '{layer.name()}' comes from the {layer.providerType()} provider; this version reads rasters "
            "GDAL opens by path. Save the area you need as a GeoTIFF (Raster ▸ Conversion ▸ Translate) and run "
            "on that."
        )
    return layer.source().split("|")[0]
