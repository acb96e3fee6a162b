"""Self-describing, pickle-free model files: safetensors tensors plus a JSON config in the header.

A model file holds everything needed to rebuild and run the model (architecture, encoder, bands,
normalisation, GSD, tile size, threshold) and its provenance and metrics. Loading reads the JSON header
and raw tensors only; it never unpickles, so a file cannot execute code. Pickle checkpoints are refused
before anything else is read.
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ModelFileError
from .choices import ARCHITECTURES

FORMAT_NAME = "building_extractor.model"
FORMAT_VERSION = 1
CONFIG_KEY = "building_extractor_config"
SHIPPED_MODELS_DIR = Path(os.path.abspath(__file__)).parents[2] / "models"  # inside the installed plugin


def shipped_model_path(file_name: str = "default_unet.safetensors") -> str:
    """A model file shipped with the plugin (the default U-Net unless named)."""
    return str(SHIPPED_MODELS_DIR / file_name)


def default_model_path(architecture: str = "unet", backend: str = "auto") -> str:
    """The shipped default model of ``architecture`` in the format ``backend`` runs.

    The plugin zip ships the defaults as ONNX only (``default_<architecture>.onnx``, fp16 weights: both fit the
    plugin repository's 25 MB); a checkout also has the ``.safetensors`` files that training writes. ONNX is
    chosen unless torch is asked for and the safetensors file is there (torch can also load the ONNX file's
    weights: ``core.models.builders.load_model``).
    """
    onnx_file = SHIPPED_MODELS_DIR / f"default_{architecture}.onnx"
    safetensors_file = SHIPPED_MODELS_DIR / f"default_{architecture}.safetensors"
    if backend == "torch" and safetensors_file.exists() or not onnx_file.exists():
        return str(safetensors_file)
    return str(onnx_file)


@dataclass
class ModelConfig:
    """Everything that describes a model; stored as JSON in the model file's header."""

    architecture: str = "unet"
    encoder: str = "efficientnet_lite0"
    decoder_channels: list[int] = field(default_factory=lambda: [128, 64, 48, 32, 16])
    bands: list[str] = field(default_factory=lambda: ["red", "green", "blue"])
    # Pixel values are divided by input_scale, then normalised with mean/std per band.
    input_scale: float = 255.0
    mean: list[float] = field(default_factory=lambda: [0.5, 0.5, 0.5])
    std: list[float] = field(default_factory=lambda: [0.5, 0.5, 0.5])
    gsd_m: float = 0.3
    tile_size: int = 512
    overlap: int = 64
    stride: int = 32
    threshold: float = 0.5  # U-Net: pixel probability; Mask R-CNN: detection score
    # U-Net: touching buildings are split where a blob holds several parts above seed_threshold (0: never),
    # each of at least seed_min_area_m2 (building_extractor.core.vector.split).
    seed_threshold: float = 0.0
    seed_min_area_m2: float = 2.0
    mask_threshold: float = 0.5  # Mask R-CNN: mask probability inside a detection
    nms_iou: float = 0.5  # Mask R-CNN: polygon IoU above which the lower-scored detection is dropped
    classes: list[str] = field(default_factory=lambda: ["building"])
    # Land cover (more than one class): each class's value in the class rasters and outputs, and its colour.
    class_values: list[int] = field(default_factory=list)
    class_colors: list[str] = field(default_factory=list)
    # Channels after the image bands: indices and aligned rasters (core.io.extra_inputs); mean/std cover them too.
    extra_inputs: list[dict[str, Any]] = field(default_factory=list)
    name: str = "unnamed"
    description: str = ""
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    attribution: str = ""

    @property
    def band_count(self) -> int:
        return len(self.bands)

    @property
    def channel_count(self) -> int:
        """The network's input channels: the image bands and the extra inputs."""
        return len(self.bands) + len(self.extra_inputs)

    @property
    def is_landcover(self) -> bool:
        """A multi-class (land cover) model: softmax over ``classes`` rather than one building probability."""
        return len(self.classes) > 1

    def class_value(self, index: int) -> int:
        """The raster value of class ``index`` (its position plus one unless ``class_values`` says otherwise)."""
        return int(self.class_values[index]) if self.class_values else index + 1

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **asdict(self)})

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise ModelFileError(f"The model file's description is not valid JSON ({exc}); the file is damaged. "
                                 "Copy it again or re-export the model.") from exc
        return config_from_description(raw)

    def check(self) -> None:
        """Refuse a description whose values cannot run (damaged or hand-edited files)."""
        config_from_description({"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **asdict(self)})


def escaped(text: str) -> str:
    """``text`` with control and other unprintable characters written as escapes (\\x1b, \\n, ...)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def printable(value: Any, limit: int = 60) -> str:
    """``value`` as text safe to show in a log line: control characters escaped, long texts shortened."""
    text = escaped(value if isinstance(value, str) else repr(value))
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _number(value: Any, low: float, high: float, low_open: bool = False, high_open: bool = False,
            integer: bool = False) -> bool:
    """Whether ``value`` is a JSON number (not a bool, not a string) in the interval, finite."""
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value):
        return False
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    return above and below


def _interval(low: float, high: float, low_open: bool, high_open: bool) -> str:
    return f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


# Field -> (what it must be, test). Ranges are generous (any sensible model fits) but bounded, so a damaged or
# hostile header can neither crash the run nor make it allocate or compute without limit.
def _num_rule(low: float, high: float, low_open: bool = False, high_open: bool = False,
              integer: bool = False) -> tuple[str, Any]:
    kind = "an integer" if integer else "a finite number"
    return (f"{kind} in {_interval(low, high, low_open, high_open)}",
            lambda v: _number(v, low, high, low_open, high_open, integer))


def _list_rule(what: str, item: Any, shortest: int, longest: int) -> tuple[str, Any]:
    return (f"a list of {shortest}-{longest} {what}",
            lambda v: isinstance(v, list) and shortest <= len(v) <= longest and all(item(x) for x in v))


def _text(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 200


FIELD_RULES: dict[str, tuple[str, Any]] = {
    "architecture": (f"one of {', '.join(ARCHITECTURES)}", lambda v: isinstance(v, str) and v in ARCHITECTURES),
    "encoder": ("a text naming the encoder", _text),
    "decoder_channels": _list_rule("integers in [1, 1024]", lambda x: _number(x, 1, 1024, integer=True), 1, 5),
    "bands": _list_rule("band names", _text, 1, 64),
    "input_scale": _num_rule(0, 1e9, low_open=True),
    "mean": _list_rule("finite numbers", lambda x: _number(x, -1e9, 1e9), 1, 64),
    "std": _list_rule("finite numbers above 0", lambda x: _number(x, 0, 1e9, low_open=True), 1, 64),
    "gsd_m": _num_rule(0.001, 1000),
    "tile_size": _num_rule(32, 8192, integer=True),
    "overlap": _num_rule(0, 8192),
    "stride": _num_rule(1, 1024, integer=True),
    "threshold": _num_rule(0, 1, low_open=True, high_open=True),
    "seed_threshold": _num_rule(0, 1, high_open=True),
    "seed_min_area_m2": _num_rule(0, 1e6),
    "mask_threshold": _num_rule(0, 1, low_open=True, high_open=True),
    "nms_iou": _num_rule(0, 1, low_open=True),
    "classes": _list_rule("class names", _text, 1, 255),
    "class_values": _list_rule("integers in [1, 254]", lambda x: _number(x, 1, 254, integer=True), 0, 255),
    "class_colors": _list_rule("colours", _text, 0, 255),
    "extra_inputs": _list_rule("input descriptions", lambda x: isinstance(x, dict), 0, 16),
    "name": ("a text", lambda v: isinstance(v, str)),
    "description": ("a text", lambda v: isinstance(v, str)),
    "attribution": ("a text", lambda v: isinstance(v, str)),
    "training": ("an object", lambda v: isinstance(v, dict)),
    "metrics": ("an object", lambda v: isinstance(v, dict)),
    "versions": ("an object", lambda v: isinstance(v, dict)),
}


def _consistency_problems(raw: dict[str, Any]) -> list[str]:
    """Problems between fields (each field alone is valid)."""
    problems = []
    bands = len(raw.get("bands", ModelConfig().bands)) + len(raw.get("extra_inputs", []))
    for name in ("mean", "std"):
        if name in raw and len(raw[name]) != bands:
            problems.append(f"{name} has {len(raw[name])} values for {bands} input channel(s)")
    defaults = ModelConfig()
    tile, stride = raw.get("tile_size", defaults.tile_size), raw.get("stride", defaults.stride)
    if tile % stride:
        problems.append(f"tile_size {tile} is not a multiple of stride {stride}")
    classes = len(raw.get("classes", defaults.classes))
    for name in ("class_values", "class_colors"):
        if raw.get(name) and len(raw[name]) != classes:
            problems.append(f"{name} has {len(raw[name])} values for {classes} class(es)")
    if len(set(raw.get("class_values", []))) != len(raw.get("class_values", [])):
        problems.append("class_values repeats a value")
    channels = raw.get("decoder_channels", [128])
    if raw.get("architecture") == "maskrcnn" and channels[0] % 16:
        problems.append(f"decoder_channels[0] = {channels[0]} is not a multiple of 16 (Mask R-CNN's group norm)")
    return problems


def config_from_description(raw: Any) -> ModelConfig:
    """The :class:`ModelConfig` of a model description (the metadata dict, whatever the file format).

    Every field is checked for its type and range, and fields against each other, before anything uses them;
    all problems are named in one :class:`ModelFileError`. Unknown fields are ignored (newer writers).
    """
    if not isinstance(raw, dict) or raw.get("format") != FORMAT_NAME:
        raise ModelFileError("The model file's header is not a building_extractor model description.")
    version = raw.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"The model file has format version {printable(version)}; this plugin reads version {FORMAT_VERSION}. "
            "Update the plugin or re-export the model."
        )
    known = {k: v for k, v in raw.items() if k in ModelConfig.__dataclass_fields__}
    if "architecture" in known and not FIELD_RULES["architecture"][1](known["architecture"]):
        raise ModelFileError(
            f"Unknown architecture {printable(known['architecture'])!r} in the model file; "
            f"expected one of {', '.join(ARCHITECTURES)}."
        )
    problems = [f"{name} must be {rule[0]}, not {printable(repr(known[name]))}"
                for name, rule in FIELD_RULES.items() if name in known and not rule[1](known[name])]
    problems = problems or _consistency_problems(known)
    if problems:
        raise ModelFileError(
            "The model file's description has invalid values: " + "; ".join(problems) + ". The file is damaged "
            "or was edited by hand; use a model written by train_model, or correct these values."
        )
    # Texts reach logs and reports: control characters (terminal escapes, NUL) are escaped once, here.
    known = {k: escaped(v) if isinstance(v, str) else [escaped(x) for x in v] if k in ("bands", "classes") else v
             for k, v in known.items()}
    return ModelConfig(**known)


def _sniff(path: Path) -> None:
    """Refuse what is not a safetensors file, naming what it looks like, before parsing anything."""
    if not path.exists():
        raise ModelFileError(f"Model file {path} does not exist. Choose an existing .safetensors model file.")
    if path.is_dir():
        raise ModelFileError(f"Model path {path} is a folder; choose a .safetensors model file.")
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(9)
    # A safetensors file starts with its header length (8 bytes, little-endian) and then "{". Test that
    # first: the length's low byte may well be 0x80, the pickle protocol marker.
    looks_safetensors = size >= 9 and head[8:9] == b"{"
    if not looks_safetensors and (head[:4] == b"PK\x03\x04" or head[:1] == b"\x80"):
        raise ModelFileError(
            f"{path.name} is a PyTorch pickle checkpoint. Pickle files can run arbitrary code when loaded, "
            "so building_extractor refuses them. Export the model to a building_extractor .safetensors "
            "file (train_model writes one) and use that."
        )
    if size < 9:
        raise ModelFileError(f"Model file {path} is empty or truncated ({size} bytes). Copy it again.")
    (header_len,) = struct.unpack("<Q", head[:8])
    if head[8:9] != b"{" or header_len + 8 > size:
        raise ModelFileError(
            f"Model file {path} is not a valid safetensors file (corrupt or truncated). Copy it again or "
            "re-export the model."
        )


def read_config(path: str | os.PathLike[str]) -> ModelConfig:
    """Read only the config from a model file, safetensors or ONNX (cheap; no tensors are loaded).

    The safetensors header is parsed here (8-byte little-endian length, then JSON) rather than by the
    safetensors package: the extraction path must not need it (issue 19), and the format is that simple. ONNX
    files: :func:`building_extractor.core.models.onnx_model.read_onnx_config` (plain Python too).
    """
    if str(path).lower().endswith(".onnx"):
        from .onnx_model import read_onnx_config

        return read_onnx_config(path)
    path = Path(path)
    _sniff(path)
    try:
        with path.open("rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(length).decode("utf-8"))
        metadata = header.get("__metadata__") or {}
        if not isinstance(metadata, dict):
            raise ValueError("__metadata__ is not a JSON object")
    except (ValueError, UnicodeDecodeError, AttributeError, struct.error) as exc:
        raise ModelFileError(f"Model file {path} is corrupt or truncated and cannot be read ({exc}). Copy it "
                             "again or re-export the model.") from exc
    if CONFIG_KEY not in metadata:
        raise ModelFileError(
            f"{path.name} is a safetensors file without a building_extractor description, so the plugin "
            "cannot tell how to build or run it. Use a model written by train_model."
        )
    return ModelConfig.from_json(metadata[CONFIG_KEY])


def tensor_shapes(path: str | os.PathLike[str]) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the tensors in a model file, from its header only (no tensor is read; ONNX files:
    their weights, by PyTorch name)."""
    if str(path).lower().endswith(".onnx"):
        from .onnx_model import onnx_tensor_shapes

        return onnx_tensor_shapes(path)
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as handle:
            return {name: tuple(handle.get_slice(name).get_shape()) for name in handle.keys()}
    except Exception as exc:
        raise ModelFileError(f"Model file {path} is corrupt or truncated and cannot be read ({exc}). Copy it "
                             "again or re-export the model.") from exc


def load_model_file(path: str | os.PathLike[str]) -> tuple[ModelConfig, dict[str, Any]]:
    """Return the config and the state dict (float32 tensors) of a model file (safetensors or ONNX)."""
    if str(path).lower().endswith(".onnx"):
        from .onnx_model import load_onnx_state

        return read_config(path), load_onnx_state(path)
    from safetensors.torch import load_file

    config = read_config(path)
    try:
        tensors = load_file(str(path))
    except Exception as exc:
        raise ModelFileError(f"Model file {path} is corrupt or truncated: {exc}. Copy it again.") from exc
    return config, {name: t.float() for name, t in tensors.items()}


def save_model_file(
    path: str | os.PathLike[str], config: ModelConfig, state_dict: dict[str, Any], half: bool = True
) -> None:
    """Write a model file atomically; floating tensors are stored as fp16 when ``half``."""
    import torch
    from safetensors.torch import save_file

    tensors = {}
    for name, tensor in state_dict.items():
        tensor = tensor.detach().cpu().contiguous()
        if half and tensor.is_floating_point():
            tensor = tensor.half()
        tensors[name] = tensor.clone() if tensor.dtype != torch.bool else tensor.to(torch.uint8)
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    save_file(tensors, str(tmp), metadata={CONFIG_KEY: config.to_json()})
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # safetensors writes 0600; model files are meant to be shared
    os.replace(tmp, path)


def update_config(path: str | os.PathLike[str], **fields: Any) -> ModelConfig:
    """Rewrite a model file's description fields (name, attribution, ...) keeping its weights bit for bit."""
    from safetensors.torch import load_file, save_file

    config = read_config(path)
    for name, value in fields.items():
        if name not in ModelConfig.__dataclass_fields__:
            raise ModelFileError(f"Unknown model config field {name!r}.")
        setattr(config, name, value)
    tensors = load_file(str(path))
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    save_file(tensors, str(tmp), metadata={CONFIG_KEY: config.to_json()})
    os.chmod(tmp, path.stat().st_mode & 0o777)
    os.replace(tmp, path)
    return config


def average_model_files(paths: list[str | os.PathLike[str]], output: str | os.PathLike[str]) -> ModelConfig:
    """Write the mean of several model files' weights (a uniform "model soup") to ``output``; return its config.

    The files must be fine-tunes of one model (same architecture, encoder and tensors). The first file's
    description and thresholds are kept: re-tune them on validation data afterwards. Integer tensors (batch-norm
    counters) are not weights and are taken from the first file.
    """
    if len(paths) < 2:
        raise ModelFileError("Give at least two model files to average.")
    configs, states = zip(*(load_model_file(path) for path in paths))
    first, shapes = configs[0], {name: tuple(t.shape) for name, t in states[0].items()}
    for path, config, state in zip(paths[1:], configs[1:], states[1:]):
        if (config.architecture, config.encoder) != (first.architecture, first.encoder) or \
                {name: tuple(t.shape) for name, t in state.items()} != shapes:
            raise ModelFileError(f"{path} is not the same network as {paths[0]}: only fine-tunes of one model "
                                 "can be averaged.")
    soup = {name: sum(state[name] for state in states) / len(states) if tensor.is_floating_point() else tensor
            for name, tensor in states[0].items()}
    first.description = (first.description + " " if first.description else "") + \
        f"Weights: the average of {len(paths)} models ({', '.join(Path(p).name for p in paths)})."
    save_model_file(output, first, soup)
    return first
