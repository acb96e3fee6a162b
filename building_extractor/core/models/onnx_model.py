"""Self-describing ONNX model files: the network's graph plus the model's description in ``metadata_props``.

An ONNX model file holds the same JSON description as a safetensors model file (architecture, bands,
normalisation, GSD, tile size, thresholds, classes, provenance, metrics) under the same key
(``building_extractor_config``), plus the keys Deepness reads (:data:`DEEPNESS_KEYS`). Reading it
(:func:`read_onnx_config`) parses the protobuf's top-level fields in plain Python: no onnx, no torch, no
onnxruntime, and nothing in the file is executed.

Graphs (exported by :func:`export_onnx`, training side: torch and onnx):

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

import json
import os
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import ModelFileError
from .choices import SEGMENTATION, task_of
from .model_file import CONFIG_KEY, ModelConfig

ONNX_SUFFIX = ".onnx"
OPSET = 17
# Keys of Deepness (PUTvision/qgis-plugin-deepness, docs "Adding metadata to ONNX model"), JSON-encoded as
# it expects. Written for segmentation networks only: Deepness's detectors read YOLO outputs, not Mask R-CNN's.
DEEPNESS_KEYS = ("model_type", "class_names", "resolution", "tiles_size", "tiles_overlap", "seg_thresh")
METADATA_PROPS_FIELD = 14  # ModelProto.metadata_props (onnx.proto)
MIN_HALF_ELEMENTS = 16  # tiny tensors stay float32: not worth a Cast node
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


def metadata_for(config: ModelConfig) -> dict[str, str]:
    """The metadata_props written into an ONNX model file: our description, plus Deepness's keys (U-Net)."""
    props = {CONFIG_KEY: config.to_json()}
    if task_of(config.architecture) == SEGMENTATION:
        deepness = {
            "model_type": "Segmentor",
            "class_names": {i: name for i, name in enumerate(config.classes)},
            "resolution": round(config.gsd_m * 100, 3),  # cm per pixel
            "tiles_size": int(config.tile_size),
            "tiles_overlap": int(round(100 * config.overlap / config.tile_size)),  # percent of the tile
            "seg_thresh": float(config.threshold),
        }
        props.update({key: json.dumps(value) for key, value in deepness.items()})
    return props


# Export: torch and onnx (training side) ---------------------------------------------------------------------

def _graph_module(config: ModelConfig, model: Any) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
    """The module to trace, example inputs, and the export's names and dynamic axes."""
    import torch

    size = min(int(config.tile_size), 256)
    image = torch.zeros(1, config.channel_count, size, size)
    if task_of(config.architecture) == SEGMENTATION:
        landcover = config.is_landcover

        class Probability(torch.nn.Module):
            """Building probability (sigmoid), or a land cover model's class probabilities (softmax)."""

            def __init__(self) -> None:
                super().__init__()
                self.net = model

            def forward(self, x: Any) -> Any:
                logits = self.net(x)
                return torch.softmax(logits, dim=1) if landcover else torch.sigmoid(logits)

        names = dict(input_names=["image"], output_names=["probability"],
                     dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"},
                                   "probability": {0: "batch", 2: "height", 3: "width"}})
        return Probability().eval(), (image,), names
    from torchvision.models.detection.image_list import ImageList

    class Detections(torch.nn.Module):
        """:func:`building_extractor.core.models.maskrcnn.detect` for one image, the score threshold an input."""

        def __init__(self) -> None:
            super().__init__()
            self.net = model

        def forward(self, x: Any, score_threshold: Any) -> Any:
            self.net.roi_heads.score_thresh = score_threshold  # traced: compared with the scores in the graph
            batch = ImageList(x, [(x.shape[-2], x.shape[-1])])
            features = self.net.backbone(x)
            proposals, _ = self.net.rpn(batch, features)
            detections, _ = self.net.roi_heads(features, proposals, batch.image_sizes)
            return detections[0]["boxes"], detections[0]["scores"], detections[0]["masks"][:, 0]

    # Real-looking input so the traced graph runs every branch (random noise may give no detections).
    image = torch.from_numpy(_example_tile(config, size))
    names = dict(input_names=["image", "score_threshold"], output_names=["boxes", "scores", "masks"],
                 dynamic_axes={"image": {2: "height", 3: "width"}, "boxes": {0: "detections"},
                               "scores": {0: "detections"}, "masks": {0: "detections"}})
    return Detections().eval(), (image, torch.tensor(0.05)), names


def _example_tile(config: ModelConfig, size: int) -> Any:
    """A smooth synthetic image with bright rectangles (roof-like), normalised, for tracing."""
    import numpy as np

    rows, cols = np.mgrid[0:size, 0:size]
    image = np.full((config.channel_count, size, size), 0.3, np.float32)
    for r0, c0, h, w in ((30, 40, 50, 70), (120, 150, 60, 45), (180, 30, 40, 60)):
        image[:, (rows >= r0) & (rows < r0 + h) & (cols >= c0) & (cols < c0 + w)] = 0.9
    mean = np.asarray(config.mean, np.float32)[:, None, None]
    std = np.asarray(config.std, np.float32)[:, None, None]
    return ((image - mean) / std)[None]


def export_onnx(config: ModelConfig, model: Any, path: str | os.PathLike[str], half: bool = True) -> str:
    """Write ``model`` (a torch network built from ``config``) as a self-describing ONNX file, atomically.

    ``half`` stores float weights as float16 (cast back to float32 in the graph).
    """
    import warnings

    import onnx
    import torch

    module, inputs, names = _graph_module(config, model.cpu().eval())
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer warnings about shapes that are dynamic by design
            # The TorchScript exporter: torchvision's detector exports through it (with its ONNX code paths),
            # and it keeps parameter names. Constant folding would fuse batch norm and rename weights.
            torch.onnx.export(module, inputs, str(tmp), dynamo=False, opset_version=OPSET, do_constant_folding=False,
                              **names)
        proto = onnx.load(str(tmp))
        if half:
            _store_half(proto)
        del proto.metadata_props[:]
        for key, value in metadata_for(config).items():
            proto.metadata_props.add(key=key, value=value)
        proto.producer_name = "building_extractor"
        onnx.save(proto, str(tmp))
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return str(path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _store_half(proto: Any) -> None:
    """Float32 initializers become float16 ones, each cast back to float32 by a Cast node under its old name."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    graph = proto.graph
    kept, casts = [], []
    for tensor in graph.initializer:
        values = numpy_helper.to_array(tensor) if tensor.data_type == TensorProto.FLOAT else None
        if values is None or values.size < MIN_HALF_ELEMENTS:
            kept.append(tensor)
            continue
        kept.append(numpy_helper.from_array(values.astype(np.float16), tensor.name + "__fp16"))
        casts.append(helper.make_node("Cast", [tensor.name + "__fp16"], [tensor.name], to=TensorProto.FLOAT,
                                      name=tensor.name + "__cast"))
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)


def onnx_path_for(path: str | os.PathLike[str]) -> str:
    """The ONNX file written beside a safetensors model file (same name, .onnx)."""
    return str(Path(path).with_suffix(ONNX_SUFFIX))


def export_model_file(source: str | os.PathLike[str], destination: str | os.PathLike[str] | None = None,
                      half: bool = True) -> str:
    """Convert a safetensors model file to a self-describing ONNX file (default: beside it); returns its path."""
    from .builders import load_model

    if is_onnx_path(source):
        raise ModelFileError(f"{source} is already an ONNX model file; give a .safetensors model to export.")
    destination = destination or onnx_path_for(source)
    if os.path.abspath(destination) == os.path.abspath(source):
        raise ModelFileError("The ONNX file must not overwrite the model it is exported from; choose another name.")
    config, model = load_model(str(source))
    return export_onnx(config, model, destination, half=half)


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
