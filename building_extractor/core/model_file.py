"""Self-describing, pickle-free model files: safetensors tensors plus a JSON config in the header.

A model file holds everything needed to rebuild and run the model (architecture, encoder, bands,
normalisation, GSD, tile size, threshold) and its provenance and metrics. Loading reads the JSON header
and raw tensors only; it never unpickles, so a file cannot execute code. Pickle checkpoints are refused
before anything else is read.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import ModelFileError

FORMAT_NAME = "building_extractor.model"
FORMAT_VERSION = 1
CONFIG_KEY = "building_extractor_config"
ARCHITECTURES = ("unet", "maskrcnn")
SHIPPED_MODELS_DIR = Path(os.path.abspath(__file__)).parents[1] / "models"  # inside the installed plugin


def shipped_model_path(file_name: str = "default_unet.safetensors") -> str:
    """A model file shipped with the plugin (the default U-Net unless named)."""
    return str(SHIPPED_MODELS_DIR / file_name)


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
    # each of at least seed_min_area_m2 (building_extractor.core.split).
    seed_threshold: float = 0.0
    seed_min_area_m2: float = 2.0
    mask_threshold: float = 0.5  # Mask R-CNN: mask probability inside a detection
    nms_iou: float = 0.5  # Mask R-CNN: polygon IoU above which the lower-scored detection is dropped
    classes: list[str] = field(default_factory=lambda: ["building"])
    name: str = "unnamed"
    description: str = ""
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    attribution: str = ""

    @property
    def band_count(self) -> int:
        return len(self.bands)

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **asdict(self)})

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise ModelFileError(f"The model file's description is not valid JSON ({exc}); the file is damaged. "
                                 "Copy it again or re-export the model.") from exc
        if not isinstance(raw, dict) or raw.pop("format", None) != FORMAT_NAME:
            raise ModelFileError("The model file's header is not a building_extractor model description.")
        version = raw.pop("format_version", None)
        if version != FORMAT_VERSION:
            raise ModelFileError(
                f"The model file has format version {version}; this plugin reads version {FORMAT_VERSION}. "
                "Update the plugin or re-export the model."
            )
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        config = cls(**known)
        if config.architecture not in ARCHITECTURES:
            raise ModelFileError(
                f"Unknown architecture {config.architecture!r} in the model file; "
                f"expected one of {', '.join(ARCHITECTURES)}."
            )
        config.check()
        return config

    def check(self) -> None:
        """Refuse a description whose values cannot run (damaged or hand-edited files)."""
        try:
            bands = [str(b) for b in self.bands]
            numbers_ok = (
                len(bands) >= 1 and len(self.mean) == len(bands) and len(self.std) == len(bands)
                and all(float(s) > 0 for s in self.std) and float(self.input_scale) > 0
                and float(self.gsd_m) > 0 and int(self.stride) > 0 and int(self.tile_size) >= int(self.stride)
                and 0 < float(self.threshold) < 1 and len(self.classes) >= 1
            )
        except (TypeError, ValueError):
            numbers_ok = False
        if not numbers_ok:
            raise ModelFileError(
                "The model file's description has missing or inconsistent values (bands, mean/std, GSD, tile "
                "size, stride or threshold); the file is damaged or was edited by hand. Use a model written by "
                "train_model."
            )


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
    """Read only the config from a model file (cheap; no tensors are loaded)."""
    from safetensors import safe_open

    path = Path(path)
    _sniff(path)
    try:
        # framework="numpy": reading the header must not import torch (checkParameterValues runs on the GUI thread).
        with safe_open(str(path), framework="numpy") as handle:
            metadata = handle.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        raise ModelFileError(f"Model file {path} is corrupt or truncated and cannot be read ({exc}). Copy it "
                             "again or re-export the model.") from exc
    if CONFIG_KEY not in metadata:
        raise ModelFileError(
            f"{path.name} is a safetensors file without a building_extractor description, so the plugin "
            "cannot tell how to build or run it. Use a model written by train_model."
        )
    return ModelConfig.from_json(metadata[CONFIG_KEY])


def load_model_file(path: str | os.PathLike[str]) -> tuple[ModelConfig, dict[str, Any]]:
    """Return the config and the state dict (float32 tensors) of a model file."""
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
