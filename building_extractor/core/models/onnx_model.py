"""Self-describing ONNX model files: the network's graph plus the model's description in ``metadata_props``.

An ONNX model file holds the same JSON description as a safetensors model file (architecture, bands,
normalisation, GSD, tile size, thresholds, classes, provenance, metrics) under the same key
(``building_extractor_config``), plus the keys Deepness reads (:data:`core.models.export.DEEPNESS_KEYS`). Reading it
(:func:`read_onnx_config`) parses the protobuf's top-level fields in plain Python: no onnx, no torch, no
onnxruntime, and nothing in the file is executed.

Graphs (written by :func:`core.models.export.export_onnx`, training side: torch and onnx):

- segmentation networks (U-Net family): input ``image`` (batch, bands, height, width) float32, normalised;
  output ``probability``
  (batch, 1, height, width), the sigmoid already applied (land cover models: (batch, classes, height, width),
  the softmax applied). Batch, height and width are dynamic (multiples of
  the model's stride).
- Mask R-CNN: inputs ``image`` (1, bands, height, width) and ``score_threshold`` (a float32 scalar); outputs
  ``boxes`` (k, 4) x0 y0 x1 y1 in pixels, ``scores`` (k,) and ``masks`` (k, 28, 28) probabilities inside
  each box: what :func:`building_extractor.core.models.maskrcnn.detect` returns for one image. Height and width
  are dynamic; torchvision's detector graph takes one image at a time.

Weights are stored as float16 where the model file had them so (safetensors model files are saved in fp16,
so nothing is lost) and cast to float32 when the graph is loaded: the runtime computes in float32. Batch
normalisation is not folded into the convolutions at export (onnxruntime fuses them when it loads the graph),
so every weight keeps its PyTorch name and value and :func:`load_onnx_state` can rebuild the network for
torch from the ONNX file alone.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import ModelFileError
from .config import CONFIG_KEY, ModelConfig

ONNX_SUFFIX = ".onnx"
METADATA_PROPS_FIELD = 14  # ModelProto.metadata_props (onnx.proto)
WRAPPED = "net."  # the exported graph wraps the network as ``net``: weights are named "net.<state dict name>"


def is_onnx_path(path: str | os.PathLike[str]) -> bool:
    """True for a path named like an ONNX model file."""
    return str(path).lower().endswith(ONNX_SUFFIX)


# Reading: plain Python --------------------------------------------------------------------------------------

def _varint(handle: BinaryIO) -> int | None:
    """One protobuf varint from ``handle``; None at the end of the file."""
    value, shift = 0, 0
    while True:
        byte = handle.read(1)
        if not byte:
            if shift:
                raise ModelFileError("truncated varint")
            return None
        value |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return value
        shift += 7
        if shift > 63:
            raise ModelFileError("bad varint")


def _entry(data: bytes) -> tuple[str, str]:
    """(key, value) of a StringStringEntryProto."""
    fields: dict[int, str] = {}
    position = 0
    while position < len(data):
        tag, position = _varint_at(data, position)
        length, position = _varint_at(data, position)
        if tag & 7 != 2:
            raise ModelFileError("unexpected wire type in a metadata entry")
        fields[tag >> 3] = data[position:position + length].decode("utf-8")
        position += length
    return fields.get(1, ""), fields.get(2, "")


def _varint_at(data: bytes, position: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if position >= len(data):
            raise ModelFileError("truncated metadata entry")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7


def read_metadata_props(path: str | os.PathLike[str]) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file, read field by field (the graph is skipped, not parsed)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"Model file {path} does not exist. Choose an existing .onnx or .safetensors model "
                             "file.")
    size = path.stat().st_size
    props: dict[str, str] = {}
    try:
        with path.open("rb") as handle:
            while True:
                tag = _varint(handle)
                if tag is None:
                    break
                field, wire = tag >> 3, tag & 7
                if wire == 0:
                    _varint(handle)
                elif wire == 2:
                    length = _varint(handle)
                    if length is None or handle.tell() + length > size:
                        raise ModelFileError("truncated field")
                    if field == METADATA_PROPS_FIELD:
                        key, value = _entry(handle.read(length))
                        props[key] = value
                    else:
                        handle.seek(length, os.SEEK_CUR)
                elif wire == 1:
                    handle.seek(8, os.SEEK_CUR)
                elif wire == 5:
                    handle.seek(4, os.SEEK_CUR)
                else:
                    raise ModelFileError(f"wire type {wire}")
    except (ModelFileError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"Model file {path} is not a valid ONNX file (corrupt or truncated: {exc}). Copy it "
                             "again or re-export the model.") from exc
    return props


def read_onnx_config(path: str | os.PathLike[str]) -> ModelConfig:
    """The model description stored in an ONNX model file (cheap: the weights are not read)."""
    props = read_metadata_props(path)
    if CONFIG_KEY not in props:
        raise ModelFileError(
            f"{Path(path).name} is an ONNX file without a building_extractor description, so the plugin cannot "
            "tell how to run it. Use a model written by train_model or export_model."
        )
    return ModelConfig.from_json(props[CONFIG_KEY])


def onnx_path_for(path: str | os.PathLike[str]) -> str:
    """The ONNX file written beside a safetensors model file (same name, .onnx)."""
    return str(Path(path).with_suffix(ONNX_SUFFIX))


def _weights(path: str | os.PathLike[str]) -> list[Any]:
    """The weight initializers of an ONNX model file written by :func:`export_onnx`, as (name, TensorProto)."""
    import onnx

    try:
        proto = onnx.load(str(path))
    except Exception as exc:  # onnx raises DecodeError and others for damaged files
        raise ModelFileError(f"Model file {path} is corrupt or truncated: {exc}. Copy it again.") from exc
    found = []
    for tensor in proto.graph.initializer:
        name = tensor.name.removesuffix("__fp16")
        if name.startswith(WRAPPED):  # else the exporter's own constants (onnx::...), not weights
            found.append((name[len(WRAPPED):], tensor))
    return found


def onnx_tensor_shapes(path: str | os.PathLike[str]) -> dict[str, tuple[int, ...]]:
    """Names (PyTorch's) and shapes of the weights in an ONNX model file (needs onnx)."""
    return {name: tuple(int(d) for d in tensor.dims) for name, tensor in _weights(path)}


def load_onnx_state(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The torch state dict stored in an ONNX model file written by :func:`export_onnx` (needs onnx, torch)."""
    import torch
    from onnx import numpy_helper

    return {name: torch.from_numpy(numpy_helper.to_array(tensor).copy()).float() for name, tensor in _weights(path)}
