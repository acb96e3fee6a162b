"""Write self-describing ONNX model files (the training side: torch and onnx are needed here, not when reading).

The file layout and how it is read without any package: :mod:`core.models.onnx_model`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import ModelFileError
from .builders import load_model
from .choices import SEGMENTATION, task_of
from .config import CONFIG_KEY, ModelConfig
from .onnx_model import is_onnx_path, onnx_path_for

OPSET = 17
# Keys of Deepness (PUTvision/qgis-plugin-deepness, docs "Adding metadata to ONNX model"), JSON-encoded as
# it expects. Written for segmentation networks only: Deepness's detectors read YOLO outputs, not Mask R-CNN's.
DEEPNESS_KEYS = ("model_type", "class_names", "resolution", "tiles_size", "tiles_overlap", "seg_thresh")
MIN_HALF_ELEMENTS = 16  # tiny tensors stay float32: not worth a Cast node


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


def export_model_file(source: str | os.PathLike[str], destination: str | os.PathLike[str] | None = None,
                      half: bool = True) -> str:
    """Convert a safetensors model file to a self-describing ONNX file (default: beside it); returns its path."""
    if is_onnx_path(source):
        raise ModelFileError(f"{source} is already an ONNX model file; give a .safetensors model to export.")
    destination = destination or onnx_path_for(source)
    if os.path.abspath(destination) == os.path.abspath(source):
        raise ModelFileError("The ONNX file must not overwrite the model it is exported from; choose another name.")
    config, model = load_model(str(source))
    return export_onnx(config, model, destination, half=half)
