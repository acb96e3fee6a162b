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
from pathlib import Path
from typing import Any

from ..errors import ModelFileError
from .config import CONFIG_KEY, ModelConfig
from .onnx_model import load_onnx_state, onnx_tensor_shapes, read_onnx_config

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
