"""building_extractor:extract_buildings_maskrcnn — one polygon per building with Mask R-CNN."""

from __future__ import annotations

from typing import Any

from qgis.core import QgsProcessingParameterNumber

from ..core.extract.instances import STAGES, InstanceOptions, extract_instances
from ..core.vector.vectorize import PostProcessOptions
from .compat import FieldType
from .extract_buildings_unet import ExtractBuildingsUnet
from .outputs import style_by_confidence

FIELDS = (("id", FieldType.INT), ("confidence", FieldType.DOUBLE), ("mask_confidence", FieldType.DOUBLE),
          ("area_m2", FieldType.DOUBLE), ("perimeter_m", FieldType.DOUBLE))


class ExtractBuildingsMaskRcnn(ExtractBuildingsUnet):
    """Map parameters onto :func:`building_extractor.core.extract.instances.extract_instances`.

    Reading, checks, output and cancel handling are the U-Net algorithm's; only the model-specific
    parameters and the core call differ.
    """

    ALGORITHM_ID = "extract_buildings_maskrcnn"
    DISPLAY_NAME = "Extract buildings (Mask R-CNN)"
    ARCHITECTURE = "maskrcnn"
    FIELDS = FIELDS
    DEFAULT_BATCH_SIZE = 2
    STAGES = STAGES
    THRESHOLD_NAME = "SCORE_THRESHOLD"
    SCORE_THRESHOLD, MASK_THRESHOLD, NMS_IOU = "SCORE_THRESHOLD", "MASK_THRESHOLD", "NMS_IOU"

    MODEL_VALUES = {"RESOLUTION": "gsd_m", "TILE_SIZE": "tile_size", "OVERLAP": "overlap",
                    "SCORE_THRESHOLD": "threshold", "MASK_THRESHOLD": "mask_threshold", "NMS_IOU": "nms_iou"}

    def initAlgorithm(self, config: dict | None = None) -> None:  # noqa: N802 - QGIS API name
        number = QgsProcessingParameterNumber
        self._add_reading_parameters()
        self.add(number(self.SCORE_THRESHOLD, self.tr("Score threshold"), number.Double,
                        self.model_value(self.SCORE_THRESHOLD), optional=True, minValue=0.01, maxValue=0.99),
                 "Detections scoring below this are dropped. The default is the model's tuned value; lower it to "
                 "find more buildings, raise it for fewer false ones.", decimals=2)
        self.add(number(self.MASK_THRESHOLD, self.tr("Mask threshold"), number.Double,
                        self.model_value(self.MASK_THRESHOLD), optional=True, minValue=0.01, maxValue=0.99),
                 "Mask probability above which a pixel belongs to the building. The default is the model's.",
                 advanced=True, decimals=2)
        self.add(number(self.NMS_IOU, self.tr("Duplicate IoU"), number.Double, self.model_value(self.NMS_IOU),
                        optional=True, minValue=0.01, maxValue=0.99),
                 "Of two buildings overlapping more than this (polygon IoU), the lower-scored one is dropped. "
                 "The default is the model's.", advanced=True, decimals=2)
        self._add_polygon_parameters()
        self._add_output_parameters()

    def _buildings(self, parameters: dict, context: Any, raster: Any, progress: Any, run: Any) -> tuple[Any, dict]:
        options = InstanceOptions(
            **self._reading_options(parameters, context),
            score_threshold=self._model_number(parameters, self.SCORE_THRESHOLD, context),
            mask_threshold=self._model_number(parameters, self.MASK_THRESHOLD, context),
            nms_iou=self._model_number(parameters, self.NMS_IOU, context),
            post=PostProcessOptions(min_area_m2=self.parameterAsDouble(parameters, self.MIN_AREA, context),
                                    simplify_m=self.parameterAsDouble(parameters, self.SIMPLIFY, context)),
        )
        return self._extraction(extract_instances, raster, options, parameters, context, progress, run), {}

    def postProcessAlgorithm(self, context: Any, feedback: Any) -> dict:  # noqa: N802
        if self.output_id:
            style_by_confidence(self.output_id, context)
        return {}
