"""building_extractor:train_model: train or fine-tune a building U-Net or Mask R-CNN on rasters and footprints, or a
land cover U-Net on rasters and class rasters (or class polygon layers)."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorLayer,
    QgsVectorFileWriter,
)

from ..core.models.choices import ARCHITECTURES, ENCODERS, INSTANCES
from ..core.train.training import UNET_LOSSES
from .base_algorithm import BaseAlgorithm, FeedbackProgress, processing_temp_folder, run_core
from .extract_buildings_unet import raster_file_path
from .outputs import destination_problem

# Enum index -> name: the order of the core tables (new names are appended there, so indices keep their meaning).
ARCHITECTURE_NAMES, ENCODER_NAMES, LOSSES = list(ARCHITECTURES), list(ENCODERS), list(UNET_LOSSES)
# Per-task defaults for the optional BATCH_SIZE and LEARNING_RATE (the shipped models used them).
DEFAULT_BATCH = {"segmentation": 8, INSTANCES: 4}
DEFAULT_LEARNING_RATE = {"segmentation": 2e-3, INSTANCES: 5e-4}
POLYGONS = [QgsProcessing.TypeVectorPolygon]


class TrainModel(BaseAlgorithm):
    """Maps the parameters onto core.train.training.Trainer and writes the model file and HTML report."""

    ALGORITHM_ID = "train_model"
    DISPLAY_NAME = "Train model"
    GROUP_ID = "training"
    GROUP = "Training"

    INPUT = "INPUT"
    FOOTPRINTS = "FOOTPRINTS"
    AREA = "AREA"
    VALIDATION_RASTER = "VALIDATION_RASTER"
    VALIDATION_FOOTPRINTS = "VALIDATION_FOOTPRINTS"
    VALIDATION_FRACTION = "VALIDATION_FRACTION"
    ARCHITECTURE = "ARCHITECTURE"
    ENCODER = "ENCODER"
    INIT_MODEL = "INIT_MODEL"
    RESOLUTION = "RESOLUTION"
    EPOCHS = "EPOCHS"
    STEPS_PER_EPOCH = "STEPS_PER_EPOCH"
    MAX_MINUTES = "MAX_MINUTES"
    BATCH_SIZE = "BATCH_SIZE"
    LEARNING_RATE = "LEARNING_RATE"
    CHIP_SIZE = "CHIP_SIZE"
    LOSS = "LOSS"
    DEVICE = "DEVICE"
    KEEP_BEST_ON_CANCEL = "KEEP_BEST_ON_CANCEL"
    CLASSES = "CLASSES"
    CLASS_RASTERS = "CLASS_RASTERS"
    CLASS_LAYERS = "CLASS_LAYERS"
    BACKGROUND_CLASS = "BACKGROUND_CLASS"
    VALIDATION_CLASS_RASTER = "VALIDATION_CLASS_RASTER"
    IMAGE_BANDS = "IMAGE_BANDS"
    EXTRA_INPUTS = "EXTRA_INPUTS"
    HEIGHT_RASTERS = "HEIGHT_RASTERS"
    VALIDATION_HEIGHT = "VALIDATION_HEIGHT"
    OUTPUT_MODEL = "OUTPUT_MODEL"
    OUTPUT_REPORT = "OUTPUT_REPORT"
    OUTPUT_ONNX = "OUTPUT_ONNX"
    VAL_IOU = "VAL_IOU"
    VAL_F1 = "VAL_F1"
    VAL_ACCURACY = "VAL_ACCURACY"

    def initAlgorithm(self, config: dict | None = None) -> None:  # noqa: N802 - QGIS API name
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.INPUT, self.tr("Training rasters (RGB)"), QgsProcessing.TypeRaster))
        self.addParameter(QgsProcessingParameterVectorLayer(
            self.FOOTPRINTS, self.tr("Building footprints (any CRS; not for land cover)"), POLYGONS, optional=True))
        self.addParameter(QgsProcessingParameterString(
            self.CLASSES, self.tr("Land cover classes: value=name[:#colour], comma-separated (empty: a building "
                                  "model)"), optional=True))
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.CLASS_RASTERS, self.tr("Land cover: class rasters, one per training raster in the same order "
                                        "(nodata ignored)"), QgsProcessing.TypeRaster, optional=True))
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.CLASS_LAYERS, self.tr("Land cover: polygon layers, one per class in the order of CLASSES "
                                       "(instead of class rasters)"), QgsProcessing.TypeVectorPolygon,
            optional=True))
        self.add_advanced(QgsProcessingParameterNumber(
            self.BACKGROUND_CLASS, self.tr("Land cover from polygon layers: class value of pixels no polygon "
                                           "covers (empty: unknown, not trained on)"),
            QgsProcessingParameterNumber.Integer, None, optional=True, minValue=1, maxValue=254))
        self.addParameter(QgsProcessingParameterVectorLayer(
            self.AREA, self.tr("Labelled area (outside it pixels are ignored)"), POLYGONS, optional=True))
        self.addParameter(QgsProcessingParameterRasterLayer(
            self.VALIDATION_RASTER, self.tr("Validation raster"), optional=True))
        self.addParameter(QgsProcessingParameterVectorLayer(
            self.VALIDATION_FOOTPRINTS, self.tr("Validation building footprints"), POLYGONS, optional=True))
        self.addParameter(QgsProcessingParameterRasterLayer(
            self.VALIDATION_CLASS_RASTER, self.tr("Land cover: validation class raster"), optional=True))
        self.add_advanced(QgsProcessingParameterString(
            self.IMAGE_BANDS, self.tr("Image bands, comma-separated (empty: red, green, blue; e.g. red, green, blue, "
                                      "nir for RGBN)"), optional=True))
        self.add_advanced(QgsProcessingParameterString(
            self.EXTRA_INPUTS, self.tr("Extra inputs: ndvi, shadow, height[:metres for full scale] (empty: none)"),
            optional=True))
        self.add_advanced(QgsProcessingParameterMultipleLayers(
            self.HEIGHT_RASTERS, self.tr("Height models (nDSM), one per training raster in the same order"),
            QgsProcessing.TypeRaster, optional=True))
        self.add_advanced(QgsProcessingParameterRasterLayer(
            self.VALIDATION_HEIGHT, self.tr("Height model of the validation raster"), optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.VALIDATION_FRACTION, self.tr("Validation fraction held out by spatial blocks (without a "
                                              "validation raster)"),
            QgsProcessingParameterNumber.Double, 0.2, minValue=0.0, maxValue=0.9))
        self.addParameter(self.named_enum(self.ARCHITECTURE, "Architecture (ignored when fine-tuning)",
                                          {name: a.label for name, a in ARCHITECTURES.items()}))
        self.addParameter(self.named_enum(self.ENCODER, "Encoder (ignored when fine-tuning)",
                                          {name: e.label for name, e in ENCODERS.items()}))
        self.add_model_parameter(self.INIT_MODEL, "Start from model (fine-tune)", optional=True)
        self.addParameter(QgsProcessingParameterNumber(
            self.RESOLUTION, self.tr("Training resolution (m per pixel)"), QgsProcessingParameterNumber.Double,
            0.3, minValue=0.02, maxValue=10.0))
        self.addParameter(QgsProcessingParameterNumber(
            self.EPOCHS, self.tr("Epochs"), QgsProcessingParameterNumber.Integer, 40, minValue=1, maxValue=10000))
        self.addParameter(QgsProcessingParameterNumber(
            self.MAX_MINUTES, self.tr("Time budget in minutes (0 = none)"), QgsProcessingParameterNumber.Double,
            0.0, minValue=0.0))
        self.add_advanced(QgsProcessingParameterNumber(
            self.STEPS_PER_EPOCH, self.tr("Steps (batches) per epoch"), QgsProcessingParameterNumber.Integer, 25,
            minValue=1, maxValue=100000))
        self.add_advanced(QgsProcessingParameterNumber(
            self.BATCH_SIZE, self.tr("Batch size (chips per step; empty: 8, or 4 for Mask R-CNN)"),
            QgsProcessingParameterNumber.Integer, None, optional=True, minValue=1, maxValue=256))
        rate = QgsProcessingParameterNumber(
            self.LEARNING_RATE, self.tr("Learning rate (peak; empty: 0.002, or 0.0005 for Mask R-CNN)"),
            QgsProcessingParameterNumber.Double, None, optional=True, minValue=1e-7, maxValue=1.0)
        rate.setMetadata({"widget_wrapper": {"decimals": 6}})
        self.add_advanced(rate)
        self.add_advanced(QgsProcessingParameterNumber(
            self.CHIP_SIZE, self.tr("Chip size (pixels, multiple of 32)"), QgsProcessingParameterNumber.Integer,
            256, minValue=64, maxValue=1024))
        self.add_advanced(self.named_enum(self.LOSS, "Loss (all but Mask R-CNN)",
                                          {name: UNET_LOSSES[name][0] for name in LOSSES}))
        self.addParameter(self.device_parameter(self.DEVICE))
        self.addParameter(QgsProcessingParameterBoolean(
            self.KEEP_BEST_ON_CANCEL, self.tr("When cancelled, keep the best model so far"), defaultValue=True))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_MODEL, self.tr("Output model"), self.tr("Model files (*.safetensors)")))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_REPORT, self.tr("Training report"), self.tr("HTML files (*.html)"), optional=True))
        self.addOutput(QgsProcessingOutputFile(self.OUTPUT_ONNX, self.tr("ONNX model (beside the output model)")))
        self.addOutput(QgsProcessingOutputNumber(self.VAL_IOU, self.tr("Validation IoU (tuned threshold)")))
        self.addOutput(QgsProcessingOutputNumber(self.VAL_F1, self.tr("Validation building F1")))
        self.addOutput(QgsProcessingOutputNumber(self.VAL_ACCURACY, self.tr("Land cover: validation overall "
                                                                            "accuracy")))

    def checkParameterValues(self, parameters: dict, context: Any) -> tuple[bool, str]:  # noqa: N802
        ok, message = super().checkParameterValues(parameters, context)
        if not ok:
            return ok, message
        chip = self.parameterAsInt(parameters, self.CHIP_SIZE, context)
        if chip % 32:
            return False, self.tr("CHIP_SIZE must be a multiple of 32 (the models' stride); {} is not. "
                                  "Use {}.").format(chip, (chip + 31) // 32 * 32)
        problem = self._label_problem(parameters, context)
        if problem:
            return False, self.tr(problem)
        has_raster = parameters.get(self.VALIDATION_RASTER) not in (None, "")
        has_footprints = parameters.get(self.VALIDATION_FOOTPRINTS) not in (None, "")
        if self._given(parameters, self.CLASSES):
            has_footprints = self._given(parameters, self.VALIDATION_CLASS_RASTER)
            if has_raster != has_footprints:
                return False, self.tr("Give both VALIDATION_RASTER and VALIDATION_CLASS_RASTER, or neither (then "
                                      "VALIDATION_FRACTION of the training rasters is held out by spatial blocks).")
        if has_raster != has_footprints:
            return False, self.tr("Give both VALIDATION_RASTER and VALIDATION_FOOTPRINTS, or neither (then "
                                  "VALIDATION_FRACTION of the training rasters is held out by spatial blocks).")
        return True, ""

    @staticmethod
    def _given(parameters: dict, name: str) -> bool:
        return parameters.get(name) not in (None, "", [])

    def _label_problem(self, parameters: dict, context: Any) -> str | None:
        """Which labels are missing or do not fit each other (buildings: FOOTPRINTS; land cover: CLASSES with
        CLASS_RASTERS or CLASS_LAYERS)."""
        if not self._given(parameters, self.CLASSES):
            if not self._given(parameters, self.FOOTPRINTS):
                return ("Give FOOTPRINTS (a building model), or CLASSES with CLASS_RASTERS or CLASS_LAYERS (a land "
                        "cover model).")
            return None
        try:
            classes = parse_classes(self.parameterAsString(parameters, self.CLASSES, context))
        except ValueError as exc:
            return f"CLASSES: {exc}"
        rasters = len(self.parameterAsLayerList(parameters, self.CLASS_RASTERS, context))
        layers = len(self.parameterAsLayerList(parameters, self.CLASS_LAYERS, context))
        inputs = len(self.parameterAsLayerList(parameters, self.INPUT, context))
        if bool(rasters) == bool(layers):
            return "A land cover model takes its labels from CLASS_RASTERS or from CLASS_LAYERS: give one of them."
        if rasters and rasters != inputs:
            return (f"CLASS_RASTERS has {rasters} raster(s) for {inputs} training raster(s) in INPUT: give one class "
                    "raster per training raster, in the same order.")
        if layers and layers != len(classes):
            return (f"CLASS_LAYERS has {layers} layer(s) for {len(classes)} class(es) in CLASSES: give one polygon "
                    "layer per class, in the order of CLASSES.")
        return None

    def processAlgorithm(self, parameters: dict, context: Any, feedback: Any) -> dict:  # noqa: N802
        self.checkDependencies()
        from ..core.models.model_file import read_config
        from ..core.train.trainers import make_trainer
        from ..core.train.training_report import write_training_report

        output = self.parameterAsFileOutput(parameters, self.OUTPUT_MODEL, context)
        if not output.lower().endswith(".safetensors"):
            output += ".safetensors"
        try:
            os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
        except OSError as exc:
            raise QgsProcessingException(self.tr(
                f"OUTPUT_MODEL: cannot create the folder {os.path.dirname(os.path.abspath(output))} "
                f"({exc.strerror or exc}). Choose a folder you can write to.")) from exc
        report = self.parameterAsFileOutput(parameters, self.OUTPUT_REPORT, context)
        options = self._options(parameters, context)
        if options.init_model:
            feedback.pushInfo(self.tr("Starting from {}: its network is fine-tuned (a segmentation model given to "
                                      "a Mask R-CNN run gives its encoder); ARCHITECTURE (within the same task) and "
                                      "ENCODER are ignored.").format(options.init_model))
        problem = destination_problem(output, self.OUTPUT_MODEL, vector=False)  # not only after hours of training
        if problem:
            raise QgsProcessingException(self.tr(problem))
        workdir = tempfile.mkdtemp(prefix="building_extractor_train_", dir=processing_temp_folder())
        try:
            sources, validation = self._with_heights(parameters, context, *self._sources(parameters, context,
                                                                                         workdir))
            trainer = run_core(make_trainer, sources, options, output, validation=validation or None,
                               progress=FeedbackProgress(feedback))
            keep = self.parameterAsBoolean(parameters, self.KEEP_BEST_ON_CANCEL, context)
            model_path = run_core(trainer.run, keep_best_on_cancel=keep)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        config = run_core(read_config, model_path)
        if config.is_landcover:
            return self._landcover_results(config, model_path, report, feedback)
        val_iou = config.metrics.get("val_iou")  # None when trained without validation (fraction 0)
        val_f1 = config.metrics.get("val_f1", config.metrics.get("val_building_f1"))  # Mask R-CNN, U-Net
        results = {self.OUTPUT_MODEL: model_path, self.VAL_IOU: val_iou, self.VAL_F1: val_f1}
        scored = f"validation IoU {val_iou:.3f}" if val_iou is not None else "no validation"
        if val_f1 is not None:
            scored += f", building F1 {val_f1:.3f}"
        feedback.pushInfo(self.tr("Model written to {}: {} at threshold {}.").format(model_path, scored,
                                                                                    config.threshold))
        if report:
            results[self.OUTPUT_REPORT] = run_core(write_training_report, report, config, model_path)
        results[self.OUTPUT_ONNX] = self._export_onnx(model_path, feedback)
        return results

    def _landcover_results(self, config: Any, model_path: str, report: str, feedback: Any) -> dict:
        from ..core.train.training_report import write_training_report

        metrics = config.metrics
        results = {self.OUTPUT_MODEL: model_path, self.VAL_IOU: metrics.get("val_mean_iou"), self.VAL_F1: None,
                   self.VAL_ACCURACY: metrics.get("val_overall_accuracy")}
        scored = (f"validation mean IoU {metrics['val_mean_iou']:.3f}, overall accuracy "
                  f"{metrics['val_overall_accuracy']:.3f}" if "val_mean_iou" in metrics else "no validation")
        feedback.pushInfo(self.tr("Land cover model ({}) written to {}: {}.").format(", ".join(config.classes),
                                                                                   model_path, scored))
        if report:
            results[self.OUTPUT_REPORT] = run_core(write_training_report, report, config, model_path)
        results[self.OUTPUT_ONNX] = self._export_onnx(model_path, feedback)
        return results

    def _export_onnx(self, model_path: str, feedback: Any) -> str | None:
        """The ONNX twin of the trained model (onnxruntime runs it); None, with a warning, without onnx."""
        from ..core.dependencies import missing_packages
        from ..core.models.export import export_model_file

        if missing_packages({"onnx": "onnx"}):
            feedback.pushWarning(self.tr("The ONNX copy of the model was not written: the onnx package is missing "
                                         "(python3 -m pip install onnx). The .safetensors model works with "
                                         "BACKEND=torch; export it later with export_model."))
            return None
        path = run_core(export_model_file, model_path)
        feedback.pushInfo(self.tr("ONNX model (for onnxruntime) written to {}.").format(path))
        return path

    def _options(self, parameters: dict, context: Any) -> Any:
        from ..core.train.training import TrainingOptions

        chip = self.parameterAsInt(parameters, self.CHIP_SIZE, context)
        architecture = self.enum_name(parameters, self.ARCHITECTURE, context)
        task = ARCHITECTURES[architecture].task
        batch = parameters.get(self.BATCH_SIZE)
        rate = parameters.get(self.LEARNING_RATE)
        return TrainingOptions(
            architecture=architecture,
            encoder=self.enum_name(parameters, self.ENCODER, context),
            gsd_m=self.parameterAsDouble(parameters, self.RESOLUTION, context),
            chip_size=chip,
            block_size=chip,
            batch_size=(self.parameterAsInt(parameters, self.BATCH_SIZE, context) if batch not in (None, "")
                        else DEFAULT_BATCH[task]),
            epochs=self.parameterAsInt(parameters, self.EPOCHS, context),
            steps_per_epoch=self.parameterAsInt(parameters, self.STEPS_PER_EPOCH, context),
            learning_rate=(self.parameterAsDouble(parameters, self.LEARNING_RATE, context) if rate not in (None, "")
                           else DEFAULT_LEARNING_RATE[task]),
            val_fraction=self.parameterAsDouble(parameters, self.VALIDATION_FRACTION, context),
            max_minutes=self.parameterAsDouble(parameters, self.MAX_MINUTES, context),
            device=self.parameterAsEnumString(parameters, self.DEVICE, context),
            init_model=self.parameterAsFile(parameters, self.INIT_MODEL, context) or None,
            loss=self.enum_name(parameters, self.LOSS, context),
            classes=parse_classes(self.parameterAsString(parameters, self.CLASSES, context)),
            bands=[b.strip().lower() for b in self.parameterAsString(parameters, self.IMAGE_BANDS, context).split(",")
                   if b.strip()] or ["red", "green", "blue"],
            extra_inputs=parse_extra_inputs(self.parameterAsString(parameters, self.EXTRA_INPUTS, context)),
        )

    def _sources(self, parameters: dict, context: Any, workdir: str) -> tuple[list[Any], list[Any]]:
        """TrainingSources of file paths; vector layers not backed by a plain file are saved to workdir."""
        from ..core.train.training import TrainingSource

        rasters = self.parameterAsLayerList(parameters, self.INPUT, context)
        if not rasters:
            raise QgsProcessingException(self.tr("Give at least one training raster (INPUT)."))
        problem = self._label_problem(parameters, context)  # also when checkParameterValues was skipped
        if problem:
            raise QgsProcessingException(self.tr(problem))
        area = self._vector(parameters, self.AREA, context, workdir)
        if self._given(parameters, self.CLASSES):
            return self._landcover_sources(parameters, context, workdir, rasters, area)
        footprints = self._vector(parameters, self.FOOTPRINTS, context, workdir, required=True)
        sources = [TrainingSource(raster_file_path(layer), footprints, area, name=layer.name())
                   for layer in rasters]
        validation = []
        raster = self.parameterAsRasterLayer(parameters, self.VALIDATION_RASTER, context)
        if raster is not None:
            validation.append(TrainingSource(
                raster_file_path(raster),
                self._vector(parameters, self.VALIDATION_FOOTPRINTS, context, workdir, required=True),
                name=raster.name()))
        return sources, validation

    def _landcover_sources(self, parameters: dict, context: Any, workdir: str, rasters: list[Any],
                           area: str | None) -> tuple[list[Any], list[Any]]:
        """Training sources labelled by class rasters (paired in order) or by one polygon layer per class."""
        from ..core.train.training import TrainingSource

        classes = parse_classes(self.parameterAsString(parameters, self.CLASSES, context))
        class_rasters = [raster_file_path(layer)
                         for layer in self.parameterAsLayerList(parameters, self.CLASS_RASTERS, context)]
        layers = [vector_file_path(layer, os.path.join(workdir, f"class_{i}.gpkg"), context)
                  for i, layer in enumerate(self.parameterAsLayerList(parameters, self.CLASS_LAYERS, context))]
        class_layers = [(path, item["value"]) for path, item in zip(layers, classes)]
        background = (self.parameterAsInt(parameters, self.BACKGROUND_CLASS, context)
                      if self._given(parameters, self.BACKGROUND_CLASS) else 0)
        sources = [TrainingSource(raster_file_path(layer), area=area, name=layer.name(),
                                  class_raster=class_rasters[i] if class_rasters else None,
                                  class_layers=class_layers, background=background)
                   for i, layer in enumerate(rasters)]
        validation = []
        raster = self.parameterAsRasterLayer(parameters, self.VALIDATION_RASTER, context)
        if raster is not None:
            labels = self.parameterAsRasterLayer(parameters, self.VALIDATION_CLASS_RASTER, context)
            validation.append(TrainingSource(raster_file_path(raster), name=raster.name(),
                                             class_raster=raster_file_path(labels)))
        return sources, validation

    def _with_heights(self, parameters: dict, context: Any, sources: list[Any], validation: list[Any]
                      ) -> tuple[list[Any], list[Any]]:
        """Pair HEIGHT_RASTERS with the training rasters and VALIDATION_HEIGHT with the validation raster."""
        heights = [raster_file_path(layer) for layer in self.parameterAsLayerList(parameters, self.HEIGHT_RASTERS,
                                                                                  context)]
        if heights and len(heights) != len(sources):
            raise QgsProcessingException(self.tr("HEIGHT_RASTERS has {} raster(s) for {} training raster(s): give "
                                                 "one per training raster, same order.").format(len(heights),
                                                                                               len(sources)))
        for source, height in zip(sources, heights):
            source.extra_rasters = {"height": height}
        layer = self.parameterAsRasterLayer(parameters, self.VALIDATION_HEIGHT, context)
        for source in validation if layer is not None else []:
            source.extra_rasters = {"height": raster_file_path(layer)}
        return sources, validation

    def _vector(self, parameters: dict, name: str, context: Any, workdir: str, required: bool = False
                ) -> str | None:
        layer = self.parameterAsVectorLayer(parameters, name, context)
        if layer is None:
            if required:
                raise QgsProcessingException(self.invalidSourceError(parameters, name))
            return None
        return vector_file_path(layer, os.path.join(workdir, f"{name.lower()}.gpkg"), context)


def parse_classes(text: str) -> list[dict[str, Any]]:
    """CLASSES text ("1=building:#3c1098, 2=land") as [{"value", "name", "color"}]; [] when empty."""
    classes = []
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        value, _, rest = item.partition("=")
        name, _, colour = rest.partition(":")
        if not value.strip().isdigit() or not name.strip():
            raise ValueError(f"{item!r} is not value=name (e.g. 1=building:#3c1098, 2=land).")
        classes.append({"value": int(value), "name": name.strip(), **({"color": colour.strip()} if colour else {})})
    if classes and len(classes) < 2:
        raise ValueError("a land cover model needs at least two classes.")
    return classes


def parse_extra_inputs(text: str) -> list[dict[str, Any]]:
    """EXTRA_INPUTS text ("ndvi, height:30") as core.io.extra_inputs descriptions."""
    from ..core.io.extra_inputs import INDICES, RASTER_ROLES

    inputs = []
    for item in filter(None, (part.strip().lower() for part in (text or "").split(","))):
        name, _, scale = item.partition(":")
        if name in INDICES:
            inputs.append({"kind": "index", "name": name})
        elif name in RASTER_ROLES:
            try:
                full_scale = float(scale or 30.0)
            except ValueError:
                full_scale = 0.0
            if not full_scale > 0:
                raise QgsProcessingException(f"EXTRA_INPUTS: {item!r}: give the metres of full scale as a number "
                                             "above 0, e.g. height:30.")
            inputs.append({"kind": "raster", "name": name, "scale": full_scale})
        else:
            raise QgsProcessingException(f"EXTRA_INPUTS: unknown input {name!r}; use {', '.join(INDICES)} or "
                                         f"{', '.join(RASTER_ROLES)}[:metres].")
    return inputs


def vector_file_path(layer: Any, fallback: str, context: Any) -> str:
    """The file OGR reads for ``layer``; layers that are not one whole plain file are saved to ``fallback``."""
    if layer.providerType() == "ogr" and not layer.subsetString():
        path, *options = layer.source().split("|")
        if os.path.isfile(path) and all(option in ("layerid=0",) for option in options):
            return path
    save = QgsVectorFileWriter.SaveVectorOptions()
    save.driverName = "GPKG"
    save.layerName = "polygons"
    error, message, *_ = QgsVectorFileWriter.writeAsVectorFormatV3(layer, fallback, context.transformContext(),
                                                                   save)
    if error != QgsVectorFileWriter.NoError:
        raise QgsProcessingException(f"Could not save layer '{layer.name()}' for training: {message}")
    return fallback
