"""building_extractor:export_model — convert a safetensors model file to a self-describing ONNX file."""

from __future__ import annotations

import os
from typing import Any

from qgis.core import (
    QgsProcessingException,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
)

from .base_algorithm import BaseAlgorithm, run_core


class ExportModel(BaseAlgorithm):
    """Maps the parameters onto :func:`building_extractor.core.models.onnx_model.export_model_file`."""

    ALGORITHM_ID = "export_model"
    DISPLAY_NAME = "Export model to ONNX"
    GROUP_ID = "training"
    GROUP = "Training"
    INPUT, HALF, OUTPUT = "INPUT", "HALF", "OUTPUT"

    def initAlgorithm(self, config: dict | None = None) -> None:  # noqa: N802 - QGIS API name
        self.addParameter(QgsProcessingParameterFile(
            self.INPUT, self.tr("Model file (.safetensors, written by Train model)"),
            behavior=QgsProcessingParameterFile.File, extension="safetensors"))
        self.addParameter(QgsProcessingParameterBoolean(
            self.HALF, self.tr("Store the weights as float16 (half the size; computed in float32)"), defaultValue=True))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT, self.tr("ONNX model"), self.tr("ONNX model files (*.onnx)")))

    def processAlgorithm(self, parameters: dict, context: Any, feedback: Any) -> dict:  # noqa: N802
        self.checkDependencies()
        from ..core.models.export import export_model_file
        from ..core.models.model_file import read_config

        source = self.parameterAsFile(parameters, self.INPUT, context)
        output = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        if not output.lower().endswith(".onnx"):
            output += ".onnx"
        if os.path.abspath(output) == os.path.abspath(source):
            raise QgsProcessingException(self.tr("OUTPUT must not overwrite INPUT; choose another file name."))
        config = run_core(read_config, source)
        feedback.pushInfo(self.tr("Exporting {} ({}/{}, {} bands, {} m) to ONNX...").format(
            config.name, config.architecture, config.encoder, config.band_count, config.gsd_m))
        os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
        path = run_core(export_model_file, source, output, self.parameterAsBoolean(parameters, self.HALF, context))
        feedback.pushInfo(self.tr("Wrote {} ({:.1f} MB); its metadata holds the model's description (and "
                                  "Deepness's keys for U-Nets).").format(path, os.path.getsize(path) / 2**20))
        return {self.OUTPUT: path}
