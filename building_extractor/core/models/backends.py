"""Inference backends behind one small interface: onnxruntime (the default wherever it is installed), OpenVINO
(BACKEND=openvino: the U-Net family on the CPU, about twice as fast where the CPU computes bf16 natively) and
torch.

:func:`open_model` picks the backend and device for a model file and returns a :class:`Runner`. A runner
holds the model's :class:`ModelConfig` and is called on a normalised batch (n, bands, height, width) float32:

- segmentation networks (U-Net family): returns (n, height, width) float32 building probabilities (land cover
  models: (n, classes, height, width) class probabilities);
- Mask R-CNN: returns, per image, ``boxes`` (k, 4), ``scores`` (k,) and ``masks`` (k, 28, 28)
  (what :func:`building_extractor.core.models.maskrcnn.detect` returns).

``runner.description`` says which backend, execution provider and device ran, and why (the algorithms log it).
The onnxruntime and OpenVINO paths import neither torch nor safetensors: the lean extraction path builds on them.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DeviceError, ModelFileError
from ..progress import Progress
from .choices import SEGMENTATION, task_of
from .config import ModelConfig
from .model_file import read_config
from .onnx_model import is_onnx_path, onnx_path_for

BACKENDS = ("auto", "onnxruntime", "torch", "openvino")  # appended: BACKEND's enum indices stay as they were
ONNXRUNTIME_HINT = "python3 -m pip install onnxruntime"
OPENVINO_HINT = "python3 -m pip install openvino"
# Why OpenVINO runs no Mask R-CNN (measured in BENCHMARKS.md, CPU session 9).
OPENVINO_NO_DETECTOR = ("OpenVINO runs the U-Net family only: on the Mask R-CNN detector it was slower than "
                        "onnxruntime here, and OpenVINO 2026.4 answers a tile without detections with the previous "
                        "tile's first detection instead of none")
TORCH_HINT = "python3 -m pip install torch torchvision segmentation-models-pytorch timm safetensors"
# DEVICE -> onnxruntime execution providers, in order of preference (CPU is always added last).
PROVIDERS = {"cuda": ("CUDAExecutionProvider",), "directml": ("DmlExecutionProvider",),
             "coreml": ("CoreMLExecutionProvider",), "mps": ("CoreMLExecutionProvider",), "cpu": ()}
AUTO_PROVIDERS = ("CUDAExecutionProvider", "DmlExecutionProvider", "CoreMLExecutionProvider")


@dataclass
class Runner:
    """A loaded model: call it on a normalised batch (see the module docstring)."""

    config: ModelConfig
    forward: Any  # callable(images) -> probabilities or detections
    backend: str  # "onnxruntime", "openvino" or "torch"
    device: str  # e.g. "CPUExecutionProvider", "CPU, bf16", "cpu", "cuda"
    reason: str  # why this backend and device

    def __call__(self, images: np.ndarray) -> Any:
        return self.forward(images)

    @property
    def description(self) -> str:
        return f"{self.backend} on {self.device} ({self.reason})"


def onnxruntime_installed() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def openvino_installed() -> bool:
    return importlib.util.find_spec("openvino") is not None


def torch_installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("torch", "torchvision", "timm", "safetensors",
                                                                          "segmentation_models_pytorch"))


def choose_backend(requested: str, model_path: str, device: str = "auto") -> tuple[str, str, str]:
    """(backend, model file to load, reason) for BACKEND ``requested``, a model file and DEVICE.

    ``auto`` takes an ONNX file (the model, or the ONNX twin of a safetensors file: same name, written by
    train_model or export_model, holding the same description) to onnxruntime, or to OpenVINO where onnxruntime
    is missing (:func:`openvino_preferred`); torch otherwise.
    """
    requested = (requested or "auto").lower()
    if requested not in BACKENDS:
        raise DeviceError(f"Unknown BACKEND {requested!r}; use {', '.join(BACKENDS)}.")
    onnx_file = model_path if is_onnx_path(model_path) else _onnx_twin(model_path)
    if requested in ("onnxruntime", "openvino"):
        installed, hint = ((onnxruntime_installed(), ONNXRUNTIME_HINT) if requested == "onnxruntime" else
                           (openvino_installed(), OPENVINO_HINT))
        if not installed:
            raise DeviceError(f"BACKEND={requested} was asked for, but {requested} is not installed. Install it: "
                              f"{hint}, or use BACKEND=auto.")
        if onnx_file is None:
            raise ModelFileError(f"BACKEND={requested} runs ONNX model files; {os.path.basename(model_path)} is a "
                                 "safetensors file. Convert it with building_extractor:export_model, or use "
                                 "BACKEND=torch.")
        return requested, onnx_file, f"BACKEND={requested}"
    if requested == "torch":
        if not torch_installed():
            raise DeviceError(f"BACKEND=torch was asked for, but torch is not installed. Install it ({TORCH_HINT}), "
                              "or use BACKEND=auto.")
        return "torch", model_path, "BACKEND=torch"
    if onnx_file is not None:
        what = "the model is ONNX" if onnx_file == model_path else "its ONNX twin holds the same model"
        preferred, why = openvino_preferred(onnx_file, device)
        if preferred:
            return "openvino", onnx_file, f"auto: {what}, {why}"
        if onnxruntime_installed():
            return "onnxruntime", onnx_file, f"auto: {what} and onnxruntime is installed"
    if torch_installed():
        why = ("onnxruntime is not installed" if onnx_file is not None else
               "the model is safetensors without an ONNX twin (export_model writes one)")
        return "torch", model_path, f"auto: {why}"
    if onnx_file is None:
        raise ModelFileError(f"{os.path.basename(model_path)} is a safetensors model, which needs torch ({TORCH_HINT}"
                             "); or convert it to ONNX with building_extractor:export_model where torch is installed.")
    also = " (OpenVINO, which is installed, runs the U-Net family only)" if openvino_installed() else ""
    raise DeviceError(f"Neither onnxruntime nor torch is installed{also}. Install onnxruntime: {ONNXRUNTIME_HINT}")


def openvino_preferred(onnx_file: str, device: str) -> tuple[bool, str]:
    """Whether BACKEND=auto runs ``onnx_file`` on OpenVINO, and why: only where onnxruntime is missing.

    auto keeps onnxruntime wherever it is installed: OpenVINO's speed-up comes from bf16 (about 2x on CPUs
    that compute it natively, 1.0-1.25x in f32), and bf16 moves building outlines (masks IoU 0.994-0.996
    against fp32, but 69 of the sample's 88 outlines below 0.99; BENCHMARKS.md, CPU session 9), so whether an
    optional package is installed must not change the buildings. OpenVINO is taken only where onnxruntime is
    missing, for the U-Net family on the CPU; BACKEND=openvino asks for it.
    """
    if onnxruntime_installed() or not openvino_installed() or (device or "auto").lower() not in ("auto", "cpu"):
        return False, ""
    try:
        segmentation = task_of(read_config(onnx_file).architecture) == SEGMENTATION
    except ModelFileError:
        return False, ""  # the chosen backend reports the bad file
    return segmentation, "OpenVINO is installed and onnxruntime is not"


def _onnx_twin(path: str) -> str | None:
    """The ONNX file beside a safetensors model when it holds the same description, else None."""
    twin = onnx_path_for(path)
    if not os.path.isfile(twin) or not os.path.isfile(path):
        return None
    try:
        same = read_config(twin) == read_config(path)
    except ModelFileError:
        return None
    return twin if same else None


def open_model(model_path: str, architecture: str, backend: str = "auto", device: str = "auto",
               progress: Progress | None = None, score_threshold: float | None = None, tta: str = "none") -> Runner:
    """Load ``model_path`` (of ``architecture``) on the chosen backend and device.

    ``score_threshold`` is the Mask R-CNN's detection score threshold (None: the model's; ignored for U-Nets);
    ``tta`` a test-time augmentation mode (core.extract.tta.TTA_MODES), applied the same way on both backends.
    """
    from ..extract.tta import check_mode

    check_mode(tta)
    name, path, reason = choose_backend(backend, model_path, device)
    if name == "torch":
        return _torch_runner(path, architecture, device, reason, progress, score_threshold, tta)
    from .builders import check_task  # the task check only: importing core.models.builders loads no torch

    config = read_config(path)
    check_task(config, architecture, model_path)
    if name == "openvino":
        if task_of(config.architecture) != SEGMENTATION:
            raise DeviceError(f"{OPENVINO_NO_DETECTOR} (BENCHMARKS.md). Use BACKEND=onnxruntime or auto.")
        return _openvino_runner(path, config, device, reason, tta)
    threshold = config.threshold if score_threshold is None else score_threshold
    return _onnx_runner(path, config, device, reason, threshold, tta)


# onnxruntime ----------------------------------------------------------------------------------------------

_SESSIONS: dict[tuple[str, float, tuple[str, ...]], Any] = {}


def _providers(device: str) -> tuple[list[str], str]:
    """onnxruntime execution providers for DEVICE, and why."""
    import onnxruntime

    device = (device or "auto").lower()
    available = onnxruntime.get_available_providers()
    if device == "auto":
        gpu = [p for p in AUTO_PROVIDERS if p in available]
        why = "device auto: " + (f"{gpu[0]} is available" if gpu else "no GPU execution provider in this onnxruntime")
        return [*gpu[:1], "CPUExecutionProvider"], why
    if device not in PROVIDERS:
        raise DeviceError(f"Unknown DEVICE {device!r}; use auto, cpu, {', '.join(p for p in PROVIDERS if p != 'cpu')}.")
    wanted = [p for p in PROVIDERS[device] if p in available]
    if PROVIDERS[device] and not wanted:
        package = {"cuda": "onnxruntime-gpu", "directml": "onnxruntime-directml"}.get(device, "onnxruntime")
        raise DeviceError(f"DEVICE={device} was asked for, but this onnxruntime ({onnxruntime.__version__}) has no "
                          f"{PROVIDERS[device][0]} (it has {', '.join(available)}). Install {package} in place of "
                          "onnxruntime, use BACKEND=torch with a CUDA build of torch, or use DEVICE=auto or cpu.")
    return [*wanted, "CPUExecutionProvider"], f"DEVICE={device}"


def onnx_session(path: str, providers: list[str]) -> Any:
    """An onnxruntime session for ``path`` (cached per file, modification time and providers; sessions are
    thread-safe and hold no per-run state)."""
    import onnxruntime

    key = (os.path.abspath(path), os.path.getmtime(path), tuple(providers))
    if key not in _SESSIONS:
        _SESSIONS.clear()
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            _SESSIONS[key] = onnxruntime.InferenceSession(path, options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own Fail / InvalidGraph errors
            raise ModelFileError(f"onnxruntime cannot load {path}: {exc}. The file is damaged or needs a newer "
                                 "onnxruntime; copy it again, or re-export it with export_model.") from exc
    return _SESSIONS[key]


def _onnx_runner(path: str, config: ModelConfig, device: str, reason: str, score_threshold: float,
                 tta: str) -> Runner:
    import onnxruntime

    from ..extract.tta import augmented_detections, averaged_probability

    providers, why = _providers(device)
    session = onnx_session(path, providers)
    used = session.get_providers()[0]
    if task_of(config.architecture) == SEGMENTATION:
        channels = slice(None) if config.is_landcover else 0  # land cover: every class's probability

        def probability(images: np.ndarray) -> np.ndarray:
            # TTA hands over turned and flipped views; onnxruntime wants contiguous arrays
            return session.run(["probability"], {"image": np.ascontiguousarray(images)})[0][:, channels]

        def forward(images: np.ndarray) -> np.ndarray:
            return probability(images) if tta == "none" else averaged_probability(probability, images, tta)
    else:
        def detect_images(images: np.ndarray, threshold: float) -> list[dict[str, np.ndarray]]:
            # torchvision's detector graph takes one image at a time; the threshold is an input of the graph
            results = []
            for image in images:
                try:
                    boxes, scores, masks = session.run(["boxes", "scores", "masks"],
                                                       {"image": np.ascontiguousarray(image[None]),
                                                        "score_threshold": np.asarray(threshold, np.float32)})
                except Exception as exc:  # noqa: BLE001 - onnxruntime's Fail has no importable base class
                    if not no_detections_failure(exc):
                        raise
                    boxes, scores = np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
                    masks = np.zeros((0, 28, 28), np.float32)
                results.append({"boxes": boxes, "scores": scores, "masks": masks})
            return results

        def forward(images: np.ndarray) -> list[dict[str, np.ndarray]]:
            return augmented_detections(detect_images, images, tta, score_threshold)
    return Runner(config, forward, "onnxruntime", used,
                  f"{reason}; {why}; onnxruntime {onnxruntime.__version__}")


def no_detections_failure(exc: Exception) -> bool:
    """Whether onnxruntime failed because no detection passed the score threshold: the exported mask head's
    group norm then reshapes a tensor of 0 rows to (0, groups, -1), which onnxruntime refuses (a tile without
    buildings must give no buildings, not an error)."""
    text = str(exc)
    return "mask_head" in text and "Input shape:{0," in text


# OpenVINO -------------------------------------------------------------------------------------------------

_COMPILED: dict[tuple[str, float, str], Any] = {}


@functools.lru_cache(maxsize=1)
def openvino_core() -> Any:
    """OpenVINO's Core (one per process: it loads the CPU plugin)."""
    import openvino

    return openvino.Core()


@functools.lru_cache(maxsize=1)
def openvino_native_bf16() -> bool:
    """Whether OpenVINO's CPU plugin computes bfloat16 natively on this CPU (AVX512_BF16 or AMX). Only there is
    OpenVINO clearly faster than onnxruntime for the U-Net (about 2x here, masks IoU 0.994-0.996 against fp32);
    in float32 it was 1.0-1.25x (BENCHMARKS.md, CPU session 9). Elsewhere it computes f32: OpenVINO's own
    default there (f16 on ARM) was not measured."""
    return "BF16" in openvino_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def openvino_model(path: str, precision: str) -> Any:
    """The ONNX file compiled by OpenVINO for the CPU at ``precision`` ("bf16" or "f32"; cached per file,
    modification time and precision)."""
    key = (os.path.abspath(path), os.path.getmtime(path), precision)
    if key not in _COMPILED:
        _COMPILED.clear()
        try:
            _COMPILED[key] = openvino_core().compile_model(path, "CPU", {"INFERENCE_PRECISION_HINT": precision})
        except Exception as exc:  # OpenVINO raises RuntimeError with its own text
            raise ModelFileError(f"OpenVINO cannot load {path}: {exc}. The file is damaged or needs a newer "
                                 "OpenVINO; copy it again, re-export it with export_model, or use "
                                 "BACKEND=onnxruntime.") from exc
    return _COMPILED[key]


def _openvino_runner(path: str, config: ModelConfig, device: str, reason: str, tta: str) -> Runner:
    import threading

    import openvino

    from ..extract.tta import averaged_probability

    if (device or "auto").lower() not in ("auto", "cpu"):
        raise DeviceError(f"BACKEND=openvino runs on the CPU; DEVICE={device} was asked for. Use DEVICE=auto or "
                          "cpu, or BACKEND=onnxruntime / torch for a GPU.")
    precision = "bf16" if openvino_native_bf16() else "f32"
    compiled = openvino_model(path, precision)
    output = compiled.output("probability")
    channels = slice(None) if config.is_landcover else 0
    requests = threading.local()  # an infer request is not thread-safe; the batch dialog runs rows on threads

    def probability(images: np.ndarray) -> np.ndarray:
        if not hasattr(requests, "request"):
            requests.request = compiled.create_infer_request()
        result = requests.request.infer({"image": np.ascontiguousarray(images)})
        return result[output][:, channels].copy()  # the request's buffer is reused by the next call

    def forward(images: np.ndarray) -> np.ndarray:
        return probability(images) if tta == "none" else averaged_probability(probability, images, tta)

    why = ("bf16 inference: this CPU computes bf16 natively" if precision == "bf16" else
           "f32 inference: this CPU has no native bf16")
    version = openvino.__version__.split("-")[0]  # "2026.4.1-22982-<commit>-releases/..."
    return Runner(config, forward, "openvino", f"CPU, {precision}", f"{reason}; {why}; openvino {version}")


# torch ----------------------------------------------------------------------------------------------------

def _torch_runner(path: str, architecture: str, device: str, reason: str, progress: Progress | None,
                  score_threshold: float | None, tta: str) -> Runner:
    from ..extract import pipeline  # its model cache (tests swap in stand-in networks there)
    from ..progress import SilentProgress
    from .builders import resolve_device

    progress = progress or SilentProgress()
    config, model = pipeline.load_cached_model(path, architecture)
    torch_device = resolve_device(device)
    if task_of(architecture) == SEGMENTATION:
        from ..extract.inference import LandCoverPredictor, Predictor

        forward = (LandCoverPredictor if config.is_landcover else Predictor)(model, torch_device, progress, tta)
    else:
        from ..extract.instances import Detector

        threshold = config.threshold if score_threshold is None else score_threshold
        forward = Detector(model, torch_device, threshold, progress, tta)
    import torch

    return Runner(config, forward, "torch", str(torch_device),
                  f"{reason}; device {device or 'auto'}; torch {torch.__version__}")

