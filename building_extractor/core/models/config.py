"""The description of a model (architecture, bands, normalisation, GSD, tile size, thresholds, classes,
provenance, metrics), validated field by field: what every model file, safetensors or ONNX, carries as JSON.

Plain Python: no torch, no onnx, no safetensors."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import ModelFileError
from .choices import ARCHITECTURES

# Colours of the Dubai data set's classes (Humans in the Loop), used when a class names none.
DEFAULT_COLORS = ("#3c1098", "#8429f6", "#6ec1e4", "#fedd3a", "#e2a929", "#9b9b9b", "#e31a1c", "#33a02c")

FORMAT_NAME = "building_extractor.model"
FORMAT_VERSION = 1
CONFIG_KEY = "building_extractor_config"
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
