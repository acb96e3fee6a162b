"""How py-qgis-wps 1.10 describes, fills and runs our algorithms, where its defaults do not fit.

Installed by serve.py before the server starts (worker processes are forked from it, so they carry it):
- static-string enums (DEVICE, BACKEND: QGIS >= 3.18) are described by their strings and passed as
  strings; py-qgis-wps 1.10 only knows index enums and refuses to load an algorithm that has one; the plugin's
  named enums (REGULARIZE, TTA...: index enums with translated labels whose options also have names) are
  described and passed by their option names, which stay the same in every language;
- inputs with a default are optional, as in qgis_process;
- a model file parameter (.safetensors, .onnx) is a name chosen from the models folder, not an upload;
- every layer input is checked by guard.py (data folder, URL schemes) before QGIS opens it, each raster
  against the pixel limit (inside EXTENT) before the algorithm runs;
- optional outputs the job did not ask for are not expected; progress follows QGIS's progressChanged;
  a failed job keeps the algorithm's message.
The provider itself is unchanged: the same algorithms as in the Toolbox and qgis_process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from guard import RefusedInput, policy_from_config, resolve_reference
from pyqgiswps.config import confservice
from pyqgiswps.exceptions import ProcessException
from pyqgiswps.executors import processingio, processingprocess
from pyqgiswps.executors.io import layersio
from pyqgiswps.executors.processingexecutor import ProcessingExecutor
from pyqgiswps.inout import LiteralInput
from pyqgiswps.inout.literaltypes import AllowedValues
from qgis.core import (
    QgsProcessingDestinationParameter,
    QgsProcessingFeedback,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterRasterLayer,
    QgsRasterLayer,
    QgsVectorLayer,
)

MODEL_EXTENSIONS = ("safetensors", "onnx")  # a name with both files is the safetensors one


def model_files(models_dir: Path) -> dict[str, Path]:
    """The models clients may name: the model files of the models folder, by name without extension."""
    files: dict[str, Path] = {}
    for extension in MODEL_EXTENSIONS:
        for path in sorted(models_dir.glob(f"*.{extension}")):
            files.setdefault(path.stem, path)
    return files


def model_names(models_dir: Path) -> list[str]:
    return sorted(model_files(models_dir))


def _models_dir() -> Path:
    return Path(confservice.get("building_extractor", "models_dir")).resolve()


def _is_static_enum(param: QgsProcessingParameterDefinition) -> bool:
    """An enum passed by its option strings: static strings, or a named enum (option names in its metadata)."""
    return param.type() == "enum" and (param.usesStaticStrings() or bool(_option_names(param)))


def _option_names(param: QgsProcessingParameterDefinition) -> list[str]:
    """A named enum's option names (building_extractor.processing.base_algorithm.OPTION_NAMES), else []."""
    return list(param.metadata().get("option_names", []))


def _is_model_file(param: QgsProcessingParameterDefinition) -> bool:
    """A model file parameter: its extension or file filter names a model format."""
    if param.type() != "file":
        return False
    accepted = f"{param.extension()} {param.fileFilter()}".lower()
    return any(extension in accepted for extension in MODEL_EXTENSIONS)


def _describe(param: QgsProcessingParameterDefinition, alg: Any = None, context: Any = None,
              _original=processingio.parse_input_definition) -> Any:
    """processingio.parse_input_definition, with static-string enums and model names described our way, and
    inputs that have a default optional (py-qgis-wps would require them; QGIS fills in the default, as in
    qgis_process)."""
    if _is_static_enum(param) or _is_model_file(param):
        description = _literal(param)
    else:
        description = _original(param, alg, context=context)
    if param.defaultValue() is not None and not isinstance(param, QgsProcessingDestinationParameter):
        description.min_occurs = 0
    return description


def _literal(param: QgsProcessingParameterDefinition) -> LiteralInput:
    """A string input: the enum's own strings, or the names of the models folder."""
    optional = bool(param.flags() & QgsProcessingParameterDefinition.FlagOptional)
    if _is_static_enum(param):
        values, default = _option_names(param) or param.options(), param.defaultValue()
        if not param.usesStaticStrings() and default is not None:
            default = values[int(default)]
        max_occurs = len(values) if param.allowMultiple() else 1
    else:
        values, default, max_occurs = model_names(_models_dir()), None, 1
    return LiteralInput(identifier=param.name(), title=param.description(), abstract=param.help(),
                        data_type="string", allowed_values=AllowedValues(values=values), default=default,
                        min_occurs=0 if optional else 1, max_occurs=max_occurs,
                        metadata=[processingio.Metadata("processing:type", param.type())])


def _to_processing(identifier: str, inp: Any, alg: Any, context: Any,
                   _original=processingio.input_to_processing) -> tuple[str, Any]:
    """processingio.input_to_processing, with our parameters mapped and every layer reference checked."""
    param = alg.parameterDefinition(identifier)
    if _is_static_enum(param):
        values = [item.data for item in inp]
        return param.name(), values if param.allowMultiple() else values[0]
    if _is_model_file(param):
        return param.name(), _model_path(inp[0].data)
    if isinstance(param, layersio.INPUT_LAYER_TYPES):
        return param.name(), _checked_layers(param, [item.data for item in inp], context)
    return _original(identifier, inp, alg, context)


def _model_path(name: str) -> str:
    files = model_files(_models_dir())
    if name not in files:  # also refuses paths: names only
        raise ProcessException(f"MODEL: no model named '{name}'; available: {', '.join(sorted(files))}")
    return str(files[name])


def _url_layer_id(param: QgsProcessingParameterDefinition, source: str, context: Any) -> str:
    """The id of a layer opened from a /vsicurl/ URL in the job's context: QGIS 3.22 opens no layer from a
    string that is not a file (not even as gdal://...), but finds layers of the context by id."""
    if isinstance(param, QgsProcessingParameterRasterLayer):
        layer = QgsRasterLayer(source, param.name(), "gdal")
    else:
        layer = QgsVectorLayer(source, param.name(), "ogr")
    if not layer.isValid():
        raise ProcessException(f"{param.name()}: {source.removeprefix('/vsicurl/')} cannot be read.")
    context.temporaryLayerStore().addMapLayer(layer)
    return layer.id()


def _checked_layers(param: QgsProcessingParameterDefinition, references: list[str], context: Any) -> Any:
    """The GDAL/OGR sources of the references, each refused with its reason unless the guard allows it."""
    policy = policy_from_config(confservice["building_extractor"])
    sources = []
    for reference in references:
        try:
            source = resolve_reference(reference, policy)
        except RefusedInput as exc:
            raise ProcessException(f"{param.name()}: {exc}") from None
        sources.append(_url_layer_id(param, source, context) if source.startswith("/vsicurl/") else source)
    return sources if param.type() == "multilayer" else sources[0]


def _run_algorithm(alg: Any, parameters: dict, *args: Any, _original=processingprocess.run_algorithm,
                   **kwargs: Any) -> Any:
    """processingprocess.run_algorithm, without the outputs of optional destinations the job did not ask for
    (OUTPUT_PROBABILITY): py-qgis-wps 1.10 would fail the finished job on their missing result."""
    outputs = kwargs["outputs"]
    for name in list(outputs):
        if isinstance(alg.parameterDefinition(name), QgsProcessingDestinationParameter) and name not in parameters:
            del outputs[name]
    _check_pixels(alg, parameters, kwargs["context"])
    return _original(alg, parameters, *args, **kwargs)


def _check_pixels(alg: Any, parameters: dict, context: Any) -> None:
    """The pixel limit on each raster input, inside the algorithm's EXTENT as it reads it (any request: the
    HTTP front checks OGC API requests before this; WPS 1.0.0 ones are checked here only)."""
    max_pixels = policy_from_config(confservice["building_extractor"]).max_pixels
    extent_name = next((p.name() for p in alg.parameterDefinitions() if p.type() == "extent"), None)
    for param in alg.parameterDefinitions():
        if not isinstance(param, QgsProcessingParameterRasterLayer) or param.name() not in parameters:
            continue
        layer = alg.parameterAsRasterLayer(parameters, param.name(), context)
        if layer is None or layer.rasterUnitsPerPixelX() <= 0:
            continue  # the algorithm's own checks say what is wrong
        area = layer.extent()
        if extent_name and parameters.get(extent_name) not in (None, ""):
            area = area.intersect(alg.parameterAsExtent(parameters, extent_name, context, layer.crs()))
        pixels = (area.width() / layer.rasterUnitsPerPixelX()) * (area.height() / layer.rasterUnitsPerPixelY())
        if pixels > max_pixels:
            raise ProcessException(f"{param.name()}: {pixels / 1e6:.1f} MP to read; this service takes at most "
                                   f"{max_pixels / 1e6:.1f} MP per job. Crop or split it, or run it with qgis_process.")


class ProgressFeedback(processingprocess.Feedback):
    """py-qgis-wps's job feedback, with the job's percentage following QGIS's progressChanged signal: its
    Python setProgress override is not called when C++ (QgsProcessingMultiStepFeedback) sets the progress."""

    def __init__(self, response: Any, name: str, uuid_str: str) -> None:
        super().__init__(response, name, uuid_str=uuid_str)
        self._percent = -1
        self.progressChanged.connect(self._report)

    def setProgress(self, progress: float) -> None:  # noqa: N802 - QGIS API name
        QgsProcessingFeedback.setProgress(self, progress)  # emits progressChanged

    def _report(self, progress: float) -> None:
        percent = int(progress + 0.5)
        if percent != self._percent:  # one Redis write per percent, not per tile
            self._percent = percent
            self._response.update_status(status_percentage=percent)


def _run_process(handler: Any, wps_request: Any, wps_response: Any,
                 _original=ProcessingExecutor._run_process) -> Any:
    """ProcessingExecutor._run_process, whose failed asynchronous job keeps the algorithm's message: py-qgis-wps
    1.10 writes it into the job's status, then overwrites it with "Internal Error" when the error reaches
    the main process."""
    try:
        return _original(handler, wps_request, wps_response)
    except ProcessException:
        if wps_request.execute_async:
            return None
        raise


def install() -> None:
    """Patches five py-qgis-wps 1.10 functions (requirements.txt pins that version)."""
    processingio.parse_input_definition = _describe
    processingprocess.input_to_processing = _to_processing
    processingprocess.run_algorithm = _run_algorithm
    processingprocess.Feedback = ProgressFeedback
    ProcessingExecutor._run_process = staticmethod(_run_process)
