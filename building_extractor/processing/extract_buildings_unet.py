"""building_extractor:extract_buildings_unet — building footprints from a raster with a U-Net."""

from __future__ import annotations

import dataclasses
import functools
import itertools
import os
import time
from typing import Any

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsFeatureRequest,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsGeometry,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputLayerDefinition,
    QgsProcessingParameterBand,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingUtils,
    QgsProperty,
    QgsWkbTypes,
)

from ..core.errors import BuildingExtractorError
from ..core.extract.normalize import NORMALIZATIONS
from ..core.extract.pipeline import STAGES, ExtractionOptions, ExtractionRun, extract_buildings
from ..core.extract.tta import TTA_LABELS
from ..core.io.area import AreaSpec
from ..core.models.choices import extract_algorithm, task_label, task_of
from ..core.models.devices import device_problem
from ..core.models.model_file import default_model_path, read_config
from ..core.vector.vectorize import PostProcessOptions
from .base_algorithm import (
    BaseAlgorithm,
    FeedbackProgress,
    name_output_layer,
    processing_temp_folder,
    run_core,
    stageable,
    static_destination,
)
from .compat import FieldType
from .landcover_outputs import save_landcover_style, style_landcover_layers, write_landcover_polygons
from .layer_reader import MAX_AREA_KM2 as DEFAULT_MAX_AREA_KM2
from .layer_reader import is_file_layer, raster_for_layer
from .outputs import (
    destination_problem,
    destination_warning,
    discard_output,
    requested_destination,
    style_by_confidence,
)
from .regularize_buildings import MODE_CHOICES
from .settings import resolve_model

MAX_TILE_SIZE = 8192
REGULARIZE_CHOICES = {"none": "None (the traced outline)", **MODE_CHOICES}  # option name -> dialog label
FIELDS = (("id", FieldType.INT), ("confidence", FieldType.DOUBLE), ("max_probability", FieldType.DOUBLE),
          ("area_m2", FieldType.DOUBLE), ("perimeter_m", FieldType.DOUBLE))


class ExtractBuildingsUnet(BaseAlgorithm):
    """Map parameters onto :func:`building_extractor.core.extract.pipeline.extract_buildings` and back."""

    ALGORITHM_ID = "extract_buildings_unet"
    ARCHITECTURE = "unet"
    FIELDS = FIELDS
    DEFAULT_BATCH_SIZE = 1  # one 1024 px tile (the U-Net's default tile) per forward pass
    STAGES = STAGES  # progress steps of the core pipeline
    THRESHOLD_NAME = "THRESHOLD"  # named in the "no buildings found" hint
    DISPLAY_NAME = "Extract buildings (U-Net)"
    GROUP_ID = "extraction"
    GROUP = "Extraction"

    INPUT, BANDS, MODEL, RESOLUTION, DEVICE, BACKEND = "INPUT", "BANDS", "MODEL", "RESOLUTION", "DEVICE", "BACKEND"
    BATCH_SIZE, TILE_SIZE, OVERLAP, THRESHOLD = "BATCH_SIZE", "TILE_SIZE", "OVERLAP", "THRESHOLD"
    SPLIT_THRESHOLD = "SPLIT_THRESHOLD"
    MIN_AREA, SIMPLIFY, FILL_HOLES, REGULARIZE = "MIN_AREA", "SIMPLIFY", "FILL_HOLES", "REGULARIZE"
    OUTPUT, OUTPUT_PROBABILITY = "OUTPUT", "OUTPUT_PROBABILITY"
    EXTENT, MAX_AREA_KM2, TTA, AREA, NORMALIZE = "EXTENT", "MAX_AREA_KM2", "TTA", "AREA", "NORMALIZE"
    OUTPUT_LANDCOVER, OUTPUT_LANDCOVER_POLYGONS = "OUTPUT_LANDCOVER", "OUTPUT_LANDCOVER_POLYGONS"
    DASK_SCHEDULER = "DASK_SCHEDULER"
    HEIGHT, DTM = "HEIGHT", "DTM"

    def __init__(self) -> None:
        super().__init__()
        self.output_id: str | None = None
        self.landcover: tuple[str | None, str | None, list[Any]] = (None, None, [])  # raster, polygons, classes

    # Parameters whose default is the model's own value: parameter -> ModelConfig field
    MODEL_VALUES = {"RESOLUTION": "gsd_m", "TILE_SIZE": "tile_size", "OVERLAP": "overlap", "THRESHOLD": "threshold",
                    "SPLIT_THRESHOLD": "seed_threshold"}

    def initAlgorithm(self, config: dict | None = None) -> None:  # noqa: N802 - QGIS API name
        number = QgsProcessingParameterNumber
        self._add_reading_parameters()
        self.add(number(self.THRESHOLD, self.tr("Building threshold"), number.Double, self.model_value(self.THRESHOLD),
                        optional=True, minValue=0.01, maxValue=0.99),
                 "Pixels with a building probability above this are buildings. The default is the model's tuned "
                 "value; lower it to find more buildings, raise it for fewer false ones.", advanced=True, decimals=2)
        self.add(number(self.SPLIT_THRESHOLD, self.tr("Split threshold"), number.Double,
                        self.model_value(self.SPLIT_THRESHOLD), optional=True, minValue=0.0, maxValue=0.999),
                 "Touching buildings are split where a blob holds several cores above this probability. The default "
                 "is the model's; 0 never splits.", advanced=True, decimals=3)
        self.add(QgsProcessingParameterRasterLayer(self.HEIGHT, self.tr("Height model"), optional=True),
                 "Models with a height input only: the nDSM (height above ground, metres), or the DSM when a DTM "
                 "is given. Any CRS and resolution: it is aligned on the processing grid on the fly.", advanced=True)
        self.add(QgsProcessingParameterRasterLayer(self.DTM, self.tr("Terrain model (DTM)"), optional=True),
                 "With Height model as a DSM: the heights are DSM - DTM.", advanced=True)
        self._add_polygon_parameters()
        self.add(number(self.FILL_HOLES, self.tr("Fill holes below (m²)"), number.Double, 4.0, minValue=0.0),
                 "Holes smaller than this inside a building are filled.", advanced=True, decimals=1)
        self.add(self.named_enum(self.REGULARIZE, "Regularize", REGULARIZE_CHOICES, "none"),
                 "Straighten walls (LOD0 footprints). Scripts may also pass the option's name: none, right_angles, "
                 "right_angles_diagonals, any_angle, circle.")
        self._add_output_parameters()
        self.add(QgsProcessingParameterRasterDestination(
            self.OUTPUT_PROBABILITY, self.tr("Probability raster"), optional=True, createByDefault=False),
            "Optional GeoTIFF of the building probability (0-255) at the processing resolution.")
        self.add(QgsProcessingParameterRasterDestination(
            self.OUTPUT_LANDCOVER, self.tr("Land cover raster"), optional=True, createByDefault=False),
            "Land cover models only: GeoTIFF of each pixel's class value, paletted with the class names.")
        self.add(QgsProcessingParameterFeatureSink(
            self.OUTPUT_LANDCOVER_POLYGONS, self.tr("Land cover polygons"), QgsProcessing.TypeVectorPolygon,
            optional=True, createByDefault=False),
            "Land cover models only: one polygon per class region with a class field, simplified like the "
            "buildings.")

    def _add_reading_parameters(self) -> None:
        """INPUT, EXTENT, BANDS, MODEL, RESOLUTION, DEVICE, BACKEND, BATCH_SIZE, TILE_SIZE, OVERLAP, TTA, NORMALIZE
        (shared by both models)."""
        number = QgsProcessingParameterNumber
        self.add(QgsProcessingParameterRasterLayer(self.INPUT, self.tr("Image")),
                 "An RGB aerial, drone or satellite image: any raster layer QGIS shows, also XYZ and WMS/WMTS "
                 "basemaps (then set Extent).")
        self.add(QgsProcessingParameterExtent(self.EXTENT, self.tr("Extent"), optional=True),
                 "Area to process. Empty: the whole layer. Required for XYZ tile layers.")
        self.add(QgsProcessingParameterFeatureSource(self.AREA, self.tr("Only inside polygons"),
                                                     [QgsProcessing.TypeVectorPolygon], optional=True),
                 "Polygons (any CRS) to limit the run to: tiles outside them are neither read nor computed and no "
                 "building is found outside them. Use it for a town boundary or a mask of built-up land.")
        self.add(QgsProcessingParameterBand(self.BANDS, self.tr("Bands"), parentLayerParameterName=self.INPUT,
                                            optional=True, allowMultiple=True),
                 "Red, green and blue bands. Empty: found by colour interpretation, else the first three.",
                 advanced=True)
        self.add_model_parameter(self.MODEL, "Model file",
                                 help_text="A .safetensors model written by Train model. Empty: the model shipped "
                                           "with the plugin. With another model, values left at their defaults "
                                           "below follow that model's own values.")
        self.add(number(self.RESOLUTION, self.tr("Resolution (m/px)"), number.Double,
                        self.model_value(self.RESOLUTION), optional=True, minValue=0.0),
                 "Ground resolution the image is read at. The default is the model's; 0 reads the image at its "
                 "native pixel size.", decimals=2)
        self.add_device_parameters(self.DEVICE, self.BATCH_SIZE, self.DEFAULT_BATCH_SIZE)
        self.add_backend_parameter(self.BACKEND)
        self.add(number(self.TILE_SIZE, self.tr("Tile size (px)"), number.Integer, self.model_value(self.TILE_SIZE),
                        optional=True, minValue=32, maxValue=MAX_TILE_SIZE),
                 "Pixels per tile side; a multiple of the model's stride (32). The default is the model's.",
                 advanced=True)
        self.add(number(self.OVERLAP, self.tr("Tile overlap (px)"), number.Double, self.model_value(self.OVERLAP),
                        optional=True, minValue=0.0),
                 "Pixels shared by neighbouring tiles (below 1: a fraction of the tile). The default is the model's.",
                 advanced=True, decimals=2)
        self.add(self.named_enum(self.TTA, "Test-time augmentation", TTA_LABELS, "none"),
                 "Each tile also goes through the model flipped (4 passes) or flipped and turned by 90° (8 passes); "
                 "the answers, turned back, are averaged. Slower by the number of passes.", advanced=True)
        self.add(self.named_enum(self.NORMALIZE, "Normalize hazy imagery", NORMALIZATIONS, "none"),
                 "For hazy, faded or low-contrast images: one stretch of all bands (colours keep their balance) from "
                 "the image's 2-98 % range to that of the shipped models' training imagery. Computed once from the "
                 "whole image (its overviews when it has them).", advanced=True)

    def _add_polygon_parameters(self) -> None:
        """MIN_AREA and SIMPLIFY."""
        number = QgsProcessingParameterNumber
        self.add(number(self.MIN_AREA, self.tr("Minimum area (m²)"), number.Double, 4.0, minValue=0.0),
                 "Smaller buildings are dropped.", decimals=1)
        self.add(number(self.SIMPLIFY, self.tr("Simplify (m)"), number.Double, 0.25, minValue=0.0),
                 "Outline simplification tolerance; 0 keeps every pixel step.", decimals=2)

    def _add_output_parameters(self) -> None:
        """MAX_AREA_KM2, DASK_SCHEDULER and OUTPUT."""
        number = QgsProcessingParameterNumber
        self.add(number(self.MAX_AREA_KM2, self.tr("Largest web area (km²)"), number.Double, DEFAULT_MAX_AREA_KM2,
                        minValue=0.001),
                 "Web and other non-file layers are refused above this area (downloads take long).", advanced=True,
                 decimals=1)
        self.add(QgsProcessingParameterString(self.DASK_SCHEDULER, self.tr("Dask scheduler"), optional=True),
                 "Address of a Dask scheduler (tcp://host:8786) to run the job on its cluster, partition by "
                 "partition; the workers must reach INPUT and have building_extractor installed. Empty: run in "
                 "QGIS.", advanced=True)
        self.add(QgsProcessingParameterFeatureSink(self.OUTPUT, self.tr("Buildings"), QgsProcessing.TypeVectorPolygon),
                 "One polygon per building with its confidence, area and perimeter.")

    @classmethod
    def model_value(cls, name: str) -> Any:
        """The shipped model's value of parameter ``name`` (its default), or None when it cannot be read."""
        values = shipped_model_values(cls.ARCHITECTURE)
        return values.get(cls.MODEL_VALUES.get(name, ""))

    def _model_number(self, parameters: dict, name: str, context: Any, integer: bool = False) -> Any:
        """A parameter that defaults to the model's value: None (the model decides) when it is unset, or when
        another model file is given and the value is still the shipped model's default."""
        value = self._optional_number(parameters, name, context, integer)
        if value is not None and parameters.get(self.MODEL) not in (None, "") and value == self.model_value(name):
            return None
        return value

    def checkParameterValues(self, parameters: dict, context: Any) -> tuple[bool, str]:  # noqa: N802
        """Missing packages first, then our checks (their messages name the parameter and say what to do),
        then QGIS's own."""
        named = self.with_enum_names(parameters)  # DEVICE=1 as the help lists the options
        message = self.dependency_problem() or self._check_device(named)
        message = message or self.output_collision(parameters, context)
        message = message or self.value_problem(named, context, finite_only=True)  # NaN, text: before arithmetic
        message = message or self._check_model(parameters, context)
        message = message or self._check_numbers(parameters, context) or self.value_problem(named, context)
        message = message or self._check_input(parameters, context)
        message = message or destination_problem(requested_destination(parameters, self.OUTPUT, context),
                                                 self.OUTPUT)
        message = message or destination_problem(requested_destination(parameters, self.OUTPUT_PROBABILITY, context),
                                                 self.OUTPUT_PROBABILITY, vector=False)
        message = message or self._landcover_problem(parameters, context)
        if message:
            return False, self.tr(message)
        return super().checkParameterValues(parameters, context)

    def _model_path(self, parameters: dict, context: Any) -> str:
        """MODEL (a bare name: looked up in the models folder setting), or the shipped default in the format BACKEND
        runs (ONNX unless torch is asked for)."""
        chosen = resolve_model(self.parameterAsFile(parameters, self.MODEL, context))
        return chosen or default_model_path(self.ARCHITECTURE, self.parameterAsEnumString(parameters, self.BACKEND,
                                                                                          context))

    def _check_model(self, parameters: dict, context: Any) -> str | None:
        """Read the model file's header only: pickles, missing or foreign files are refused before anything."""
        try:
            config = read_config(self._model_path(parameters, context))
        except BuildingExtractorError as exc:
            return f"MODEL: {exc}"
        if task_of(config.architecture) != task_of(self.ARCHITECTURE):
            return (f"MODEL holds a {config.architecture} model, but this algorithm runs "
                    f"{task_label(self.ARCHITECTURE)} models. Use the {extract_algorithm(config.architecture)} "
                    "algorithm or another model file.")
        self._model_tile, self._model_stride = config.tile_size, config.stride
        self._model_classes = config.classes
        return None

    def _check_device(self, parameters: dict) -> str | None:
        """A device this machine lacks gets its reason (QGIS would only say the value is not an option)."""
        value = parameters.get(self.DEVICE)
        return device_problem(value) if isinstance(value, str) and value else None

    def _landcover_wanted(self, parameters: dict, context: Any) -> bool:
        return any(requested_destination(parameters, name, context)
                   for name in (self.OUTPUT_LANDCOVER, self.OUTPUT_LANDCOVER_POLYGONS))

    def _landcover_problem(self, parameters: dict, context: Any) -> str | None:
        """Land cover outputs need a land cover model and a writable raster destination."""
        if not self._landcover_wanted(parameters, context):
            return None
        classes = getattr(self, "_model_classes", ["building"])
        if len(classes) < 2:
            return (f"OUTPUT_LANDCOVER and OUTPUT_LANDCOVER_POLYGONS need a land cover model; MODEL has the single "
                    f"class {classes[0]!r}. Choose a land cover model (e.g. models/landcover_dubai.safetensors) or "
                    "leave those outputs empty.")
        return destination_problem(requested_destination(parameters, self.OUTPUT_LANDCOVER, context),
                                   self.OUTPUT_LANDCOVER, vector=False)

    def _check_numbers(self, parameters: dict, context: Any) -> str | None:
        tile = self._model_number(parameters, self.TILE_SIZE, context, integer=True)
        overlap = self._model_number(parameters, self.OVERLAP, context)
        threshold = self._model_number(parameters, self.THRESHOLD, context)
        resolution = self._model_number(parameters, self.RESOLUTION, context)
        stride = getattr(self, "_model_stride", 32)
        effective_tile = tile or getattr(self, "_model_tile", 512)
        if tile is not None and tile <= MAX_TILE_SIZE and (tile < stride or tile % stride):
            return (f"TILE_SIZE must be a positive multiple of {stride} (the model's output stride); {tile} is not. "
                    f"Use {max(stride, (tile + stride - 1) // stride * stride)}.")
        if overlap is not None and overlap < 0:
            return f"OVERLAP must be 0 or more (pixels, or a fraction of the tile below 1); got {overlap:g}."
        if overlap is not None and overlap >= 1 and overlap >= effective_tile:
            return (f"OVERLAP ({overlap:g} px) must be smaller than TILE_SIZE ({effective_tile} px"
                    f"{'' if tile else ', the model’s'}). Lower OVERLAP, e.g. to {effective_tile // 8}.")
        if threshold is not None and not 0 < threshold < 1:
            return f"THRESHOLD must lie between 0 and 1 (exclusive); got {threshold:g}."
        split = self._model_number(parameters, self.SPLIT_THRESHOLD, context)  # absent for Mask R-CNN
        if split and not (threshold or 0) < split < 1:
            return (f"SPLIT_THRESHOLD must be 0 (never split) or lie between THRESHOLD and 1; got {split:g}. "
                    "Use e.g. 0.98, or leave it empty for the model's value.")
        if resolution is not None and resolution < 0:
            return f"RESOLUTION must be 0 (native) or a positive size in metres per pixel; got {resolution:g}."
        if self.parameterAsInt(parameters, self.BATCH_SIZE, context) < 1:
            return "BATCH_SIZE must be at least 1."
        for name in (self.MIN_AREA, self.SIMPLIFY, self.FILL_HOLES):
            value = self._optional_number(parameters, name, context)
            if value is not None and value < 0:
                return f"{name} must be 0 or more; got {value:g}."
        return None

    def _check_input(self, parameters: dict, context: Any) -> str | None:
        """A raster path that GDAL cannot open gets GDAL's reason instead of QGIS's generic 'not found'."""
        value = parameters.get(self.INPUT)
        if not isinstance(value, str) or "://" in value or "=" in value or (os.sep not in value
                                                                             and not os.path.exists(value)):
            return None  # a layer object, id or name, or a provider URI: QGIS resolves it
        path = value.split("|")[0]
        if not os.path.exists(path):
            return f"INPUT: raster {path} does not exist. Choose an existing raster file."
        from osgeo import gdal

        gdal.PushErrorHandler("CPLQuietErrorHandler")
        try:
            dataset = gdal.OpenEx(path, gdal.OF_RASTER)
            reason = gdal.GetLastErrorMsg()
        except RuntimeError as exc:  # when GDAL exceptions are on
            dataset, reason = None, str(exc)
        finally:
            gdal.PopErrorHandler()
        if dataset is None:
            reason = reason.strip().rstrip(".") or "not a raster format GDAL knows"
            return f"INPUT: GDAL cannot read raster {path} ({reason}). Check the file is a complete, valid raster."
        return None

    def _probability_wanted(self, parameters: dict) -> bool:
        """False for an absent or blank OUTPUT_PROBABILITY.

        The batch dialog passes an optional output left blank as an empty QgsProcessingOutputLayerDefinition;
        resolving it (parameterAsOutputLayer) would make QGIS load a layer named '' after the run: "The
        following layers were not correctly generated" in the batch log (tests/test_desktop.py).
        """
        value = parameters.get(self.OUTPUT_PROBABILITY)
        if isinstance(value, QgsProcessingOutputLayerDefinition):
            if value.sink.propertyType() != QgsProperty.StaticProperty:
                return True  # an expression: QGIS evaluates it
            value = value.sink.staticValue()
        return value not in (None, "")

    def _regularize_mode(self, parameters: dict, context: Any) -> str:
        mode = self.enum_name(parameters, self.REGULARIZE, context)
        return "" if mode == "none" else mode

    def _optional_number(self, parameters: dict, name: str, context: Any, integer: bool = False) -> Any:
        if parameters.get(name) in (None, ""):
            return None
        return (self.parameterAsInt if integer else self.parameterAsDouble)(parameters, name, context)

    def processAlgorithm(self, parameters: dict, context: Any, feedback: Any) -> dict:  # noqa: N802
        self.checkDependencies()
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        if layer is None:
            raise QgsProcessingException(self.invalidRasterError(parameters, self.INPUT))
        raster_path = self._raster_input(parameters, context, feedback, layer)
        output_path = requested_destination(parameters, self.OUTPUT, context)
        problem = destination_problem(output_path, self.OUTPUT)  # also when checkParameterValues was skipped
        if problem:
            raise QgsProcessingException(self.tr(problem))
        if destination_warning(output_path):
            feedback.pushWarning(self.tr(destination_warning(output_path)))
        progress = FeedbackProgress(feedback, steps=len(self.STAGES))
        run = ExtractionRun(None)
        buildings, results = self._buildings(parameters, context, raster_path, progress, run)
        sink, dest_id, sink_started = None, "", False
        try:
            first = next(buildings, None)  # runs read/infer/stitch/vectorize before any output exists
            sink_started = True
            sink, dest_id = self._create_sink(parameters, context, layer)
            writing = 0.0  # seconds in the sink: the core's post-processing time includes them
            for building in itertools.chain([first] if first else [], buildings):
                started = time.perf_counter()
                self._add(sink, building)
                writing += time.perf_counter() - started
            sink = None  # closes the output file: it is complete
            dest_id = self.publish_sink(dest_id, context)  # replaces an existing file whole
        except BaseException as exc:
            buildings.close()  # removes the run's temporary files
            del sink  # closes the output file before it is removed
            self.discard_staged()  # a staged output is removed; an existing file at OUTPUT stays as it was
            if sink_started and not stageable(static_destination(parameters.get(self.OUTPUT))):
                discard_output(output_path)  # a layer written in place into an existing file
            # The probability raster is written last and atomically (core.extract.pipeline.export_probability): a failed
            # run never leaves a partial one, and an older file of that name is left alone.
            if isinstance(exc, BuildingExtractorError):  # Cancelled included: the run fails, nothing is left
                raise QgsProcessingException(str(exc)) from exc
            raise
        if run.building_count == 0:
            feedback.pushWarning(self.tr("No buildings were found; the output layer is empty. Check the raster shows "
                                         "buildings at a resolution near the model's "
                                         f"({run.config.gsd_m} m) and try a lower {self.THRESHOLD_NAME}."))
        if "postprocess_write" in run.timings:
            run.timings["postprocess"] = run.timings.pop("postprocess_write") - writing
            run.timings["write"] = writing
        feedback.pushInfo(self.tr("{} buildings written by {} on {}. Stage times (s): {}").format(
            run.building_count, run.backend, run.device, ", ".join(f"{k} {v:.1f}" for k, v in run.timings.items())))
        self.output_id = dest_id
        name_output_layer(context, dest_id, self.tr("{} buildings").format(layer.name()))
        results.update(self._landcover_outputs(parameters, context, run, feedback))
        return {self.OUTPUT: dest_id, **results}

    def _landcover_outputs(self, parameters: dict, context: Any, run: Any, feedback: Any) -> dict:
        """Style the land cover raster and write its polygons per class (after the buildings)."""
        raster = getattr(self, "_landcover_path", None)
        if not raster:
            return {}
        from ..core.extract.landcover import model_classes

        classes = model_classes(run.config)
        results, polygons_id = {}, None
        if requested_destination(parameters, self.OUTPUT_LANDCOVER, context):
            save_landcover_style(raster, classes)
            results[self.OUTPUT_LANDCOVER] = raster
        if requested_destination(parameters, self.OUTPUT_LANDCOVER_POLYGONS, context):
            polygons_id = write_landcover_polygons(self, parameters, context, raster, classes, feedback)
            results[self.OUTPUT_LANDCOVER_POLYGONS] = polygons_id
        self.landcover = (results.get(self.OUTPUT_LANDCOVER), polygons_id, classes)
        return results

    def _buildings(self, parameters: dict, context: Any, raster: Any, progress: Any, run: Any) -> tuple[Any, dict]:
        """The core generator of buildings for these parameters, and the extra results it will write."""
        options = ExtractionOptions(
            **self._reading_options(parameters, context),
            threshold=self._model_number(parameters, self.THRESHOLD, context),
            seed_threshold=self._model_number(parameters, self.SPLIT_THRESHOLD, context),
            post=PostProcessOptions(
                min_area_m2=self.parameterAsDouble(parameters, self.MIN_AREA, context),
                simplify_m=self.parameterAsDouble(parameters, self.SIMPLIFY, context),
                fill_holes_m2=self.parameterAsDouble(parameters, self.FILL_HOLES, context),
                regularize=self._regularize_mode(parameters, context)),
            probability_path=(self.parameterAsOutputLayer(parameters, self.OUTPUT_PROBABILITY, context) or None
                              if self._probability_wanted(parameters) else None),
            workdir=processing_temp_folder(),  # Processing's temporary folder (set in its options), checked
        )
        results = {self.OUTPUT_PROBABILITY: options.probability_path} if options.probability_path else {}
        options.landcover_path = self._landcover_path = self._landcover_destination(parameters, context)
        options.extra_rasters = self._extra_rasters(parameters, context)
        return self._extraction(extract_buildings, raster, options, parameters, context, progress, run), results

    def _extraction(self, core_call: Any, raster: Any, options: Any, parameters: dict, context: Any, progress: Any,
                    run: Any) -> Any:
        """``core_call``'s generator of buildings here, or the same job on the DASK_SCHEDULER cluster."""
        scheduler = (self.parameterAsString(parameters, self.DASK_SCHEDULER, context) or "").strip()
        if not scheduler:
            return core_call(raster, options, progress, run)
        from .cluster_run import cluster_buildings

        if not isinstance(raster, str):
            raise QgsProcessingException(self.tr(
                "DASK_SCHEDULER: the cluster's workers read the raster themselves, so INPUT must be a raster file "
                "(not a web layer or a clip to EXTENT). Save the area as a GeoTIFF the workers can reach and run on "
                "that."))
        if getattr(options, "extra_rasters", None):
            raise QgsProcessingException(self.tr(
                "DASK_SCHEDULER: models with a height input run in QGIS only. Leave DASK_SCHEDULER empty."))
        if getattr(options, "landcover_path", None):
            raise QgsProcessingException(self.tr(
                "DASK_SCHEDULER: land cover outputs are made by runs in QGIS only. Leave OUTPUT_LANDCOVER and "
                "OUTPUT_LANDCOVER_POLYGONS empty, or DASK_SCHEDULER empty."))
        model_given = parameters.get(self.MODEL) not in (None, "")
        return cluster_buildings(raster, self.ARCHITECTURE, options, scheduler, progress, run, model_given)

    def _extra_rasters(self, parameters: dict, context: Any) -> dict[str, str] | None:
        """HEIGHT (and DTM) as the core's extra rasters: {"height": nDSM} or {"dsm": ..., "dtm": ...}."""
        height = self.parameterAsRasterLayer(parameters, self.HEIGHT, context)
        dtm = self.parameterAsRasterLayer(parameters, self.DTM, context)
        if height is None:
            if dtm is not None:
                raise QgsProcessingException(self.tr("DTM is given without HEIGHT: give the DSM as HEIGHT too."))
            return None
        if dtm is None:
            return {"height": raster_file_path(height)}
        return {"dsm": raster_file_path(height), "dtm": raster_file_path(dtm)}

    def _landcover_destination(self, parameters: dict, context: Any) -> str | None:
        """OUTPUT_LANDCOVER, a temporary raster when only the polygons are asked for, or None."""
        if requested_destination(parameters, self.OUTPUT_LANDCOVER, context):
            return self.parameterAsOutputLayer(parameters, self.OUTPUT_LANDCOVER, context)
        if requested_destination(parameters, self.OUTPUT_LANDCOVER_POLYGONS, context):
            return QgsProcessingUtils.generateTempFilename("landcover.tif")
        return None

    def _reading_options(self, parameters: dict, context: Any) -> dict[str, Any]:
        """Core options of the shared reading parameters (the same names in both algorithms' core options)."""
        return dict(
            model_path=self._model_path(parameters, context),
            gsd_m=self._model_number(parameters, self.RESOLUTION, context),
            bands=self.parameterAsInts(parameters, self.BANDS, context) or None,
            device=self.parameterAsEnumString(parameters, self.DEVICE, context),
            backend=self.parameterAsEnumString(parameters, self.BACKEND, context) or "auto",
            batch_size=self.parameterAsInt(parameters, self.BATCH_SIZE, context),
            tile_size=self._model_number(parameters, self.TILE_SIZE, context, integer=True),
            overlap=self._model_number(parameters, self.OVERLAP, context),
            tta=self.enum_name(parameters, self.TTA, context),
            normalize=self.enum_name(parameters, self.NORMALIZE, context),
            area=self._area(parameters, context),
        )

    def _area(self, parameters: dict, context: Any) -> AreaSpec | None:
        """AREA's polygons, dissolved, in the input raster's CRS (None: no AREA)."""
        if parameters.get(self.AREA) in (None, ""):
            return None
        source = self.parameterAsSource(parameters, self.AREA, context)
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        if source is None or layer is None:
            raise QgsProcessingException(self.invalidSourceError(parameters, self.AREA))
        request = QgsFeatureRequest().setNoAttributes().setDestinationCrs(layer.crs(), context.transformContext())
        geometries = [f.geometry() for f in source.getFeatures(request) if f.hasGeometry()]
        area = QgsGeometry.unaryUnion(geometries) if geometries else QgsGeometry()
        if area.isEmpty():
            raise QgsProcessingException(self.tr("AREA has no polygons. Choose a layer (or selection) with the "
                                                 "polygons to process inside, or leave AREA empty."))
        wkt = layer.crs().toWkt(QgsCoordinateReferenceSystem.WKT_PREFERRED_GDAL)
        return AreaSpec(bytes(area.asWkb()), wkt)

    def _raster_input(self, parameters: dict, context: Any, feedback: Any, layer: Any) -> Any:
        """The layer's file, the file clipped to EXTENT, or a reader through the layer's data provider (web
        and other non-file layers)."""
        if parameters.get(self.EXTENT) in (None, ""):
            if is_file_layer(layer):
                return raster_file_path(layer)
            extent = None
        else:
            extent = self.parameterAsExtent(parameters, self.EXTENT, context, layer.crs())
        max_area = self.parameterAsDouble(parameters, self.MAX_AREA_KM2, context)
        return run_core(raster_for_layer, layer, extent, feedback, max_area, processing_temp_folder())

    def _create_sink(self, parameters: dict, context: Any, layer: Any) -> tuple[Any, str]:
        fields = QgsFields()
        for name, kind in self.FIELDS:
            fields.append(QgsField(name, kind))
        try:
            sink, dest_id = self.staged_sink(parameters, self.OUTPUT, context, fields, QgsWkbTypes.MultiPolygon,
                                             layer.crs())
        except QgsProcessingException as exc:
            raise QgsProcessingException(self.tr("{} Choose another output path or format (GeoPackage works "
                                                 "everywhere).").format(exc)) from exc
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
        return sink, dest_id

    def _add(self, sink: Any, building: Any) -> None:
        geometry = QgsGeometry()
        geometry.fromWkb(building.wkb)
        geometry.convertToMultiType()
        feature = QgsFeature()
        feature.setGeometry(geometry)
        feature.setAttributes([getattr(building, name) for name, _ in self.FIELDS])
        if not sink.addFeature(feature, QgsFeatureSink.FastInsert):
            raise QgsProcessingException(self.tr("Could not write building {} to the output: {}").format(
                building.id, sink.lastError()))

    def postProcessAlgorithm(self, context: Any, feedback: Any) -> dict:  # noqa: N802
        if self.output_id:
            style_by_confidence(self.output_id, context)
        raster, polygons, classes = self.landcover
        if raster or polygons:
            style_landcover_layers(raster, polygons, classes, context)
        return {}


@functools.lru_cache(maxsize=8)
def shipped_model_values(architecture: str) -> dict[str, Any]:
    """The config of the default model of ``architecture`` shipped with the plugin as a dict ({} when it cannot
    be read: the parameters then show no default and the model still decides)."""
    try:
        return dataclasses.asdict(read_config(default_model_path(architecture)))  # the header only: cheap
    except BuildingExtractorError:
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

