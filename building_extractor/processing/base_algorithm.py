"""Our base Processing algorithm: tr, icon, help, dependency check, shared parameters, feedback adapter."""

from __future__ import annotations

import functools
import math
import os
import shutil
import sys
import tempfile
from typing import Any

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingFeatureSourceDefinition,
    QgsProcessingFeedback,
    QgsProcessingOutputLayerDefinition,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFile,
    QgsProcessingParameterMapLayer,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterVectorLayer,
    QgsProcessingUtils,
    QgsProperty,
)
from qgis.PyQt.QtCore import QCoreApplication, QUrl
from qgis.PyQt.QtGui import QIcon

from ..core.dependencies import INSTALLER_ALGORITHM, install_hint, missing_for
from ..core.errors import BuildingExtractorError
from ..core.models.backends import BACKENDS
from ..core.models.config import printable
from ..core.models.devices import available_devices
from ..core.models.torch_cache import leaves_tempdir_clean
from .help_texts import HELP_TEXTS
from .outputs import collision, file_key, publish_staged
from .settings import apply_worker_setting, default_device

PLUGIN_DIR = os.path.dirname(os.path.dirname(__file__))


def plugin_icon() -> QIcon:
    return QIcon(os.path.join(PLUGIN_DIR, "icons", "icon.svg"))


class FeedbackProgress:
    """Adapts a QgsProcessingFeedback (optionally a multi-step one) to the core's Progress protocol."""

    def __init__(self, feedback: QgsProcessingFeedback, steps: int = 1) -> None:
        from qgis.core import QgsProcessingMultiStepFeedback

        self.feedback = feedback
        self.multi = QgsProcessingMultiStepFeedback(steps, feedback) if steps > 1 else None

    def set_stage(self, index: int, name: str) -> None:
        if self.multi is not None:
            self.multi.setCurrentStep(index)
        self.feedback.pushInfo(f"Step {index + 1}: {name}")

    def set_fraction(self, fraction: float) -> None:
        (self.multi or self.feedback).setProgress(100.0 * max(0.0, min(1.0, fraction)))

    def info(self, message: str) -> None:
        self.feedback.pushInfo(message)

    def warning(self, message: str) -> None:
        self.feedback.pushWarning(message)

    def is_canceled(self) -> bool:
        return self.feedback.isCanceled()


def libllvm_loaded() -> bool:
    """Whether a shared libLLVM (Mesa's OpenGL drivers load one) is mapped into this process (Linux)."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            return any("/libLLVM" in line for line in maps)
    except OSError:  # not Linux: no such clash known
        return False


class TritonGuard:
    """``sys.meta_path`` finder: Triton counts as not installed in a process that holds a shared libLLVM.

    ``import torch`` (2.x Linux wheels) imports ``triton``, whose libtriton.so carries its own LLVM. In QGIS
    desktop on Mesa OpenGL (Intel/AMD drivers, llvmpipe, Xvfb) Mesa has loaded libLLVM-NN.so globally;
    libtriton's static initialisers then bind to that LLVM's symbols and segfault, and QGIS dies the first
    time anything imports torch (our algorithms, or safetensors reading a model's header in
    checkParameterValues). Seen under Xvfb in tests/test_desktop.py, on the Toolbox's worker thread and on
    the main thread alike: it is not a threading problem. So the torch algorithms keep QGIS's default of
    running on a worker thread (no FlagNoThreading): QGIS stays responsive, Cancel works, and the dialog test
    shows the model being built and run there. Triton only serves torch.compile on GPUs, which we do not use.

    The check runs when ``triton`` is first imported, whichever code imports torch and whenever Mesa came in.
    """

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:  # noqa: ARG002
        if fullname != "triton" or not libllvm_loaded():
            return None
        sys.modules["triton"] = None  # from now on import fails and importlib.util.find_spec gives None
        raise ModuleNotFoundError("triton is kept out of QGIS: it crashes next to Mesa's libLLVM", name="triton")


def install_triton_guard() -> None:
    """Put one TritonGuard first on sys.meta_path (a reloaded plugin brings a new class: match by name)."""
    if "triton" not in sys.modules and not any(type(f).__name__ == "TritonGuard" for f in sys.meta_path):
        sys.meta_path.insert(0, TritonGuard())


install_triton_guard()  # when the provider imports the algorithms, before any of them can import torch


class BaseAlgorithm(QgsProcessingAlgorithm):
    """Shared behaviour of building_extractor algorithms; subclasses set the class constants below."""

    ALGORITHM_ID = ""
    DISPLAY_NAME = ""
    GROUP_ID = ""
    GROUP = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Every run leaves TMPDIR as it found it (no empty torchinductor folder: ``core.models.torch_cache``)."""
        super().__init_subclass__(**kwargs)
        process = cls.__dict__.get("processAlgorithm")
        if process is not None:
            @functools.wraps(process)
            def wrapper(self: BaseAlgorithm, parameters: dict, context: Any, feedback: Any) -> dict:
                with leaves_tempdir_clean():
                    return process(self, parameters, context, feedback)
            cls.processAlgorithm = wrapper

    def tr(self, text: str) -> str:
        """Translated by the algorithm's own class, its bases, then the shared BaseAlgorithm context
        (scripts/i18n.py writes the dialog strings there: many reach tr at run time, unseen by pylupdate5)."""
        for cls in type(self).__mro__:
            translated = QCoreApplication.translate(cls.__name__, text)
            if translated != text or cls is BaseAlgorithm:
                return translated
        return text

    def createInstance(self) -> BaseAlgorithm:  # noqa: N802 - QGIS API name
        return type(self)()

    def name(self) -> str:
        return self.ALGORITHM_ID

    def displayName(self) -> str:  # noqa: N802 - QGIS API name
        return self.tr(self.DISPLAY_NAME)

    def group(self) -> str:
        return self.tr(self.GROUP)

    def groupId(self) -> str:  # noqa: N802 - QGIS API name
        return self.GROUP_ID

    def icon(self) -> QIcon:
        return plugin_icon()

    def shortHelpString(self) -> str:  # noqa: N802 - QGIS API name
        return self.tr(HELP_TEXTS[self.ALGORITHM_ID])

    def helpUrl(self) -> str:  # noqa: N802 - QGIS API name
        """The rendered help page as a file URL (QUrl.fromLocalFile: ``file:///C:/...`` on Windows too)."""
        page = os.path.join(PLUGIN_DIR, "help", "html", f"{self.ALGORITHM_ID}.html")
        return QUrl.fromLocalFile(page).toString() if os.path.exists(page) else ""

    def dependency_problem(self) -> str:
        """What this algorithm needs that is not installed and how to get it ('' when nothing is missing).

        The packages come from one table, core.dependencies.ALGORITHM_PACKAGES.
        """
        missing = missing_for(self.ALGORITHM_ID)
        return install_hint(missing, installer=installer_available()) if missing else ""

    def canExecute(self) -> tuple[bool, str]:  # noqa: N802 - QGIS API name
        """Toolbox, menus and locator only; the other paths meet the same check in checkParameterValues,
        prepareAlgorithm and processAlgorithm (QGIS 3.22 calls canExecute nowhere else)."""
        problem = self.dependency_problem()
        return (False, problem) if problem else (True, "")

    def checkDependencies(self) -> None:  # noqa: N802
        """Raise the dependency problem as a QgsProcessingException; a no-op when nothing is missing."""
        problem = self.dependency_problem()
        if problem:
            raise QgsProcessingException(problem)

    def checkParameterValues(self, parameters: dict, context: Any) -> tuple[bool, str]:  # noqa: N802
        """Missing packages first: the batch dialog, the modeler, processing.run and qgis_process come here
        without canExecute, and later checks may import them (an ImportError here aborts qgis_process)."""
        problem = self.dependency_problem() or self.output_collision(parameters, context)
        parameters = self.with_enum_names(parameters)
        problem = problem or self.value_problem(parameters, context)
        if problem:
            return False, problem
        return super().checkParameterValues(parameters, context)

    # Parameter values: allowed ranges said, enum indexes accepted -----------------------------
    def value_problem(self, parameters: dict, context: Any, finite_only: bool = False) -> str | None:
        """What is wrong with a value QGIS would refuse as just "Incorrect parameter value for X": the allowed
        range or options, and the value given. Numbers must also be finite (QGIS lets NaN through).
        ``finite_only``: only values that are no finite number (before checks that compute with them)."""
        for definition in self.parameterDefinitions():
            name, value = definition.name(), parameters.get(definition.name())
            if isinstance(definition, QgsProcessingParameterNumber) and name in parameters:
                if isinstance(value, QgsProperty) or (value in (None, "") and
                                                      definition.checkValueIsAcceptable(value, context)):
                    continue  # an expression, or empty where the parameter is optional
                try:
                    number = float(value)
                except (TypeError, ValueError):
                    number = None
                not_finite = number is None or not math.isfinite(number)
                if not_finite or (not finite_only and not definition.checkValueIsAcceptable(value, context)):
                    return f"{name} must be {allowed_numbers(definition)}; got {printable(value)}."
            elif isinstance(definition, QgsProcessingParameterEnum) and value not in (None, "") and \
                    not isinstance(value, QgsProperty) and not definition.checkValueIsAcceptable(value, context):
                options = option_names(definition) or definition.options()
                return (f"{name} must be one of {', '.join(options)} (or its number, 0-{len(options) - 1}); "
                        f"got {printable(value)}.")
        return None

    def with_enum_names(self, parameters: dict) -> dict:
        """``parameters`` with the index of a static-string enum (DEVICE=2, as the help lists the options)
        replaced by the option's name, and the name of a :meth:`named_enum` option (REGULARIZE=right_angles)
        by its index."""
        changed = dict(parameters)
        for definition in self.parameterDefinitions():
            value = parameters.get(definition.name())
            if not isinstance(definition, QgsProcessingParameterEnum) or isinstance(value, bool) or \
                    not isinstance(value, (int, str)):
                continue
            if definition.usesStaticStrings():
                options = definition.options()
                if str(value).isdigit() and str(value) not in options and int(value) < len(options):
                    changed[definition.name()] = options[int(value)]
            elif value in option_names(definition):
                changed[definition.name()] = option_names(definition).index(value)
        return changed

    def preprocessParameters(self, parameters: dict) -> dict:  # noqa: N802 - QGIS API name
        return self.with_enum_names(parameters)

    def parameterAsEnumString(self, parameters: dict, name: str, context: Any) -> str:  # noqa: N802
        return super().parameterAsEnumString(self.with_enum_names(parameters), name, context)

    def parameterAsEnum(self, parameters: dict, name: str, context: Any) -> int:  # noqa: N802 - QGIS API name
        """Also for an option given by its name: graphical models and batch files run without
        checkParameterValues."""
        return super().parameterAsEnum(self.with_enum_names(parameters), name, context)

    def enum_name(self, parameters: dict, name: str, context: Any) -> str:
        """The name of the chosen option of a :meth:`named_enum`."""
        return option_names(self.parameterDefinition(name))[self.parameterAsEnum(parameters, name, context)]

    def named_enum(self, name: str, description: str, choices: dict[str, str], default: str = "") -> \
            QgsProcessingParameterEnum:
        """An enum the dialog shows in the user's language (``choices``: option name -> English label).

        Its value is the option's index, as in QGIS's own algorithms: QGIS 3.22 shows a static-string enum's
        strings as they are, untranslatable. Scripts may still pass the option's name (``qgis_process
        --REGULARIZE=right_angles``, the Python API, the web service, models and batch files saved when the
        enum held static strings): :meth:`with_enum_names` turns it into the index on every path."""
        names = list(choices)
        parameter = QgsProcessingParameterEnum(name, self.tr(description),
                                               options=[self.tr(label) for label in choices.values()],
                                               defaultValue=names.index(default) if default else 0)
        parameter.setMetadata({**parameter.metadata(), OPTION_NAMES: names})
        return parameter

    def prepareAlgorithm(self, parameters: dict, context: Any, feedback: Any) -> bool:  # noqa: N802
        self.checkDependencies()
        handle_sigterm_as_interrupt()
        apply_worker_setting()  # Processing ▸ Options: the worker count, for core.workers
        problem = self.output_collision(parameters, context)  # also where checkParameterValues was not called
        if problem:
            raise QgsProcessingException(self.tr(problem))
        self._staged: dict[str, tuple[str, str]] = {}
        return True

    # Outputs: never an input, never each other; replaced whole ------------------------------
    def output_collision(self, parameters: dict, context: Any) -> str | None:
        """Why an output would overwrite an input or another output of this run (files and GeoPackage layers
        compared by real path and layer name), or None. Reads nothing but the parameter values."""
        inputs, outputs = {}, {}
        for definition in self.parameterDefinitions():
            name = definition.name()
            if definition.isDestination():
                destination = static_destination(parameters.get(name))
                if destination:
                    outputs[name] = destination
            elif isinstance(definition, INPUT_PARAMETER_TYPES):
                inputs[name] = input_sources(parameters.get(name), context)
        return collision(inputs, outputs)

    def staged_sink(self, parameters: dict, name: str, context: Any, fields: Any, geometry_type: Any,
                    crs: Any) -> tuple[Any, str]:
        """parameterAsSink, but a file destination is written into a hidden folder beside it and only moved
        into place by :meth:`publish_sink` once complete: an existing file is replaced whole or not at all."""
        destination = static_destination(parameters.get(name))
        if not stageable(destination):
            return self.parameterAsSink(parameters, name, context, fields, geometry_type, crs)
        folder = tempfile.mkdtemp(prefix=".building_extractor-", dir=os.path.dirname(os.path.abspath(destination)))
        staged = os.path.join(folder, os.path.basename(destination))
        value = parameters[name]
        definition = QgsProcessingOutputLayerDefinition(value) if isinstance(
            value, QgsProcessingOutputLayerDefinition) else QgsProcessingOutputLayerDefinition(staged)
        definition.sink = QgsProperty.fromValue(staged)
        self._staged = getattr(self, "_staged", {})
        try:
            sink, dest_id = self.parameterAsSink({**parameters, name: definition}, name, context, fields,
                                                 geometry_type, crs)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self._staged[dest_id] = (folder, os.path.abspath(destination))
        return sink, dest_id

    def publish_sink(self, dest_id: str, context: Any) -> str:
        """Move a staged output into place once its sink is closed (deleted); returns the final layer id."""
        folder, final = self._staged.pop(dest_id, ("", ""))
        if not folder:
            return dest_id
        staged = os.path.join(folder, os.path.basename(final))
        publish_staged(folder, final)
        final_id = dest_id.replace(staged, final)
        layers = context.layersToLoadOnCompletion()
        if dest_id in layers:
            layers[final_id] = layers.pop(dest_id)
            context.setLayersToLoadOnCompletion(layers)
        return final_id

    def discard_staged(self) -> None:
        """Remove the staged outputs of a failed or cancelled run (the existing files stay as they were)."""
        for folder, _ in getattr(self, "_staged", {}).values():
            if folder:
                shutil.rmtree(folder, ignore_errors=True)
        self._staged = {}

    # Shared parameter factories -------------------------------------------------------------
    def add_model_parameter(self, name: str, description: str, optional: bool = True, help_text: str = "") -> None:
        """A model file: ONNX or safetensors (core.models.model_file reads both)."""
        self.add(QgsProcessingParameterFile(
            name, self.tr(description), behavior=QgsProcessingParameterFile.File, optional=optional,
            fileFilter=self.tr("Model files (*.onnx *.safetensors);;ONNX (*.onnx);;safetensors (*.safetensors)")),
            help_text)

    def add_device_parameters(self, device: str, batch_size: str, default_batch: int) -> None:
        self.addParameter(self.device_parameter(device))
        batch = QgsProcessingParameterNumber(batch_size, self.tr("Batch size"), QgsProcessingParameterNumber.Integer,
                                             default_batch, minValue=1, maxValue=256)
        self.add(batch, "Tiles per forward pass. More can be faster on a GPU and needs more memory.", advanced=True)

    def device_parameter(self, name: str) -> QgsProcessingParameterEnum:
        """DEVICE as a static-string enum of the devices this machine has (core.models.devices.available_devices):
        scripts pass auto / cpu / cuda / mps, not an index."""
        parameter = QgsProcessingParameterEnum(name, self.tr("Device"), options=available_devices(),
                                               defaultValue=default_device(), usesStaticStrings=True)
        parameter.setHelp(self.tr("auto: the GPU when there is one, else the CPU. Only the devices found on this "
                                  "machine are listed."))
        return parameter

    def add(self, parameter: QgsProcessingParameterDefinition, help_text: str = "", advanced: bool = False,
            decimals: int | None = None) -> None:
        """Add a parameter with its help (the dialog's tooltip; labels stay short) and display decimals."""
        if help_text:
            parameter.setHelp(self.tr(help_text))
        if decimals is not None:  # QGIS shows 6 decimals ("4.000000") unless told otherwise
            parameter.setMetadata({**parameter.metadata(), "widget_wrapper": {"decimals": decimals}})
        if advanced:
            parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(parameter)

    def add_backend_parameter(self, name: str) -> None:
        """BACKEND (advanced), a static-string enum of core.models.backends.BACKENDS."""
        self.add(QgsProcessingParameterEnum(name, self.tr("Inference backend"), options=list(BACKENDS),
                                            defaultValue="auto", usesStaticStrings=True),
                 "auto: onnxruntime when it is installed and the model is ONNX (or has an ONNX twin beside it), "
                 "else torch. onnxruntime is several times faster on CPU; torch also runs .safetensors files; "
                 "openvino (U-Net family, CPU) is about twice onnxruntime's speed on CPUs with native bf16, with "
                 "slightly different outlines. The log says which backend and device ran, and why.", advanced=True)

    def add_advanced(self, parameter: QgsProcessingParameterDefinition) -> None:
        self.add(parameter, advanced=True)


OPTION_NAMES = "option_names"  # a named_enum's option names, in its parameter's metadata (service/ reads them)


def option_names(definition: Any) -> list[str]:
    """The option names of a :meth:`BaseAlgorithm.named_enum` ([] for any other parameter)."""
    return list(definition.metadata().get(OPTION_NAMES, [])) if definition is not None else []


INPUT_PARAMETER_TYPES = (QgsProcessingParameterRasterLayer, QgsProcessingParameterVectorLayer,
                         QgsProcessingParameterFeatureSource, QgsProcessingParameterFile,
                         QgsProcessingParameterMapLayer, QgsProcessingParameterMultipleLayers)


def allowed_numbers(definition: QgsProcessingParameterNumber) -> str:
    """'an integer from 32 to 8192', 'a number of at least 0', ... for a number parameter."""
    kind = "an integer" if definition.dataType() == QgsProcessingParameterNumber.Integer else "a finite number"
    low, high = definition.minimum(), definition.maximum()
    has_low, has_high = low > -1e300, high < 1e300
    if has_low and has_high:
        return f"{kind} from {low:g} to {high:g}"
    if has_low:
        return f"{kind} of at least {low:g}"
    return f"{kind} of at most {high:g}" if has_high else kind


def static_destination(value: Any) -> str:
    """The destination a parameter value names ('' for none, a temporary output or an expression)."""
    if isinstance(value, QgsProcessingOutputLayerDefinition):
        if value.sink.propertyType() != QgsProperty.StaticProperty:
            return ""
        value = value.sink.staticValue()
    if not isinstance(value, str) or value in ("", "TEMPORARY_OUTPUT"):
        return ""
    return value


def stageable(destination: str) -> bool:
    """Whether a destination is a whole file (written beside, then moved into place); layers added to an existing
    GeoPackage (``|layername=``, ``ogr:``) and databases are written in place."""
    return file_key(destination) is not None and "|" not in destination and not destination.startswith("ogr:")


def input_sources(value: Any, context: Any) -> list[str]:
    """Layer sources or paths an input parameter value refers to (layer objects, ids and names resolved)."""
    values = value if isinstance(value, (list, tuple)) else [value]
    sources = []
    for item in values:
        if isinstance(item, QgsProcessingFeatureSourceDefinition):
            item = item.source.staticValue() if item.source.propertyType() == QgsProperty.StaticProperty else None
        if hasattr(item, "source") and callable(item.source):  # a layer object
            sources.append(item.source())
        elif isinstance(item, str) and item:
            layer = QgsProcessingUtils.mapLayerFromString(item, context, allowLoadingNewLayers=False) \
                if context is not None and not os.path.exists(item.split("|")[0]) else None
            sources.append(layer.source() if layer is not None else item)
    return sources


def discards_staged_outputs(process: Any) -> Any:
    """Decorates processAlgorithm: when the run fails or is cancelled, its staged outputs are removed."""
    @functools.wraps(process)
    def wrapper(self: BaseAlgorithm, parameters: dict, context: Any, feedback: Any) -> dict:
        try:
            return process(self, parameters, context, feedback)
        except BaseException:
            self.discard_staged()
            raise
    return wrapper


def handle_sigterm_as_interrupt() -> None:
    """SIGTERM (a service manager or batch scheduler stopping qgis_process) ends the run as Ctrl+C does: a
    KeyboardInterrupt in the running algorithm, whose cleanup removes its temporary files and partial outputs.

    Installed only on the main thread (Python's rule; qgis_process and the batch dialog run algorithms there)
    and only where SIGTERM has its default action (a host application's own handler is left alone). The first
    SIGTERM restores the default, so a second one terminates at once even while no Python code runs.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def interrupt(signum: int, frame: Any) -> None:  # noqa: ARG001
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise KeyboardInterrupt("stopped by SIGTERM")

    signal.signal(signal.SIGTERM, interrupt)


def processing_temp_folder() -> str:
    """Processing's temporary folder for this session, checked: when its base (Processing's option, else
    TMPDIR) is missing or read-only, QGIS makes the folder elsewhere (at the root, or relative to the working
    directory) without a word; this raises the clear error instead."""
    from qgis.core import QgsSettings
    from qgis.PyQt.QtCore import QDir

    from ..core.files import temporary_root

    base = QgsSettings().value("Processing/Configuration/TEMP_PATH2", "") or QDir.tempPath()
    root = run_core(temporary_root, base)
    folder = QgsProcessingUtils.tempFolder()
    inside = os.path.isabs(folder) and os.path.commonpath([os.path.realpath(folder), os.path.realpath(root)]) \
        == os.path.realpath(root)
    return folder if inside and os.path.isdir(folder) else root


def installer_available() -> bool:
    """Whether building_extractor:install_dependencies is registered (the message then names it)."""
    from qgis.core import QgsApplication

    registry = QgsApplication.processingRegistry()
    return registry is not None and registry.algorithmById(f"building_extractor:{INSTALLER_ALGORITHM}") is not None


def name_output_layer(context: Any, layer_id: str | None, name: str) -> None:
    """Name the layer QGIS loads for ``layer_id`` after the run (a temporary layer, or a file when the user
    turned off "use file name as layer name"); nothing when no layer is loaded."""
    if layer_id and context.willLoadLayerOnCompletion(layer_id):
        context.layerToLoadOnCompletionDetails(layer_id).name = name


def run_core(call, *args: Any, **kwargs: Any) -> Any:
    """Call a core function, turning its user-facing errors into QgsProcessingException."""
    try:
        return call(*args, **kwargs)
    except BuildingExtractorError as exc:
        raise QgsProcessingException(str(exc)) from exc
