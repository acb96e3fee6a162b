"""building_extractor:evaluate_landcover: per-class IoU, precision, recall, F1, mean IoU, overall accuracy and the
confusion matrix of a classified raster against a reference class raster."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterRasterLayer,
)

from ..core.models.model_file import read_config
from .base_algorithm import BaseAlgorithm, FeedbackProgress, run_core
from .extract_buildings_unet import raster_file_path


class EvaluateLandcover(BaseAlgorithm):
    """Maps the parameters onto core.extract.landcover.evaluate_landcover and writes the JSON and HTML reports."""

    ALGORITHM_ID = "evaluate_landcover"
    DISPLAY_NAME = "Evaluate land cover"
    GROUP_ID = "evaluation"
    GROUP = "Evaluation"

    PREDICTED, REFERENCE, MODEL = "PREDICTED", "REFERENCE", "MODEL"
    OUTPUT_JSON, OUTPUT_HTML = "OUTPUT_JSON", "OUTPUT_HTML"
    MEAN_IOU, OVERALL_ACCURACY, MEAN_F1 = "MEAN_IOU", "OVERALL_ACCURACY", "MEAN_F1"

    def initAlgorithm(self, config: dict | None = None) -> None:  # noqa: N802 - QGIS API name
        self.addParameter(QgsProcessingParameterRasterLayer(
            self.PREDICTED, self.tr("Classified raster (OUTPUT_LANDCOVER of Extract buildings)")))
        self.addParameter(QgsProcessingParameterRasterLayer(
            self.REFERENCE, self.tr("Reference class raster (class values; nodata not scored)")))
        self.addParameter(QgsProcessingParameterFile(
            self.MODEL, self.tr("Model file naming the classes (empty: the classes stored in the classified "
                                "raster)"), optional=True, fileFilter="Model files (*.safetensors)"))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_JSON, self.tr("Scores (JSON)"), self.tr("JSON files (*.json)"), optional=True))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_HTML, self.tr("Report (HTML)"), self.tr("HTML files (*.html)"), optional=True))
        self.addOutput(QgsProcessingOutputNumber(self.MEAN_IOU, self.tr("Mean IoU")))
        self.addOutput(QgsProcessingOutputNumber(self.OVERALL_ACCURACY, self.tr("Overall accuracy")))
        self.addOutput(QgsProcessingOutputNumber(self.MEAN_F1, self.tr("Mean F1")))

    def processAlgorithm(self, parameters: dict, context: Any, feedback: Any) -> dict:  # noqa: N802
        from ..core.extract.landcover import evaluate_landcover, model_classes, raster_classes, write_landcover_report

        predicted = self._raster(parameters, self.PREDICTED, context)
        reference = self._raster(parameters, self.REFERENCE, context)
        model = self.parameterAsFile(parameters, self.MODEL, context)
        classes = model_classes(run_core(read_config, model)) if model else run_core(raster_classes, predicted)
        if len(classes) < 2:
            raise QgsProcessingException(self.tr(
                "The classified raster does not name its classes (it was not written by Extract buildings' "
                "OUTPUT_LANDCOVER): give MODEL, the land cover model file it was made with."))
        scores = run_core(evaluate_landcover, predicted, reference, classes, FeedbackProgress(feedback))
        json_path = self.parameterAsFileOutput(parameters, self.OUTPUT_JSON, context) or None
        html_path = self.parameterAsFileOutput(parameters, self.OUTPUT_HTML, context) or None
        run_core(write_landcover_report, scores, json_path, html_path)
        feedback.pushInfo(self.tr(
            f"Overall accuracy {scores['overall_accuracy']:.3f}, mean IoU {scores['mean_iou']:.3f}; per class IoU: "
            + ", ".join(f"{name} {c['iou'] if c['iou'] is not None else '-'}" for name, c in scores["classes"].items())
            + f" ({scores['pixels']} pixels scored, {scores['unclassified_pixels']} reference pixels unclassified)."))
        results = {self.MEAN_IOU: scores["mean_iou"], self.OVERALL_ACCURACY: scores["overall_accuracy"],
                   self.MEAN_F1: scores["mean_f1"]}
        if json_path:
            results[self.OUTPUT_JSON] = json_path
        if html_path:
            results[self.OUTPUT_HTML] = html_path
        return results

    def _raster(self, parameters: dict, name: str, context: Any) -> str:
        layer = self.parameterAsRasterLayer(parameters, name, context)
        if layer is None:
            raise QgsProcessingException(self.invalidRasterError(parameters, name))
        return raster_file_path(layer)
