"""Mask R-CNN for building instances: torchvision's detector on a timm encoder with a feature pyramid.

Built without downloads. The encoder is any timm model with four feature levels (strides 4-32), so the
same EfficientNet-Lite0 ImageNet weights (and the default U-Net's building-trained encoder) can initialise
it. Images go in already normalised and at their final size: the detector's own resize and normalisation
are switched off so training chips, tiles and the model's GSD stay what the pipeline made them.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from .choices import check_encoder
from .config import ModelConfig

# Anchor sizes per pyramid level (strides 4, 8, 16, 32, 64): 16-256 px, 5-77 m at the default 0.3 m GSD.
ANCHOR_SIZES = ((16,), (32,), (64,), (128,), (256,))
ASPECT_RATIOS = ((0.5, 1.0, 2.0),) * len(ANCHOR_SIZES)
BOX_FEATURES = 512  # box head width (torchvision uses 1024; half keeps the file near 17 MB in fp16)
MASK_SIZE = 28  # torchvision's mask head output (28 × 28 per detection)


def maskrcnn_config(**fields: Any) -> ModelConfig:
    """A ModelConfig with the defaults of a Mask R-CNN model (``threshold`` is the detection score)."""
    defaults = dict(architecture="maskrcnn", decoder_channels=[128], tile_size=512, overlap=128, threshold=0.5,
                    mask_threshold=0.5, nms_iou=0.5)
    return ModelConfig(**{**defaults, **fields})


def _timm_fpn_backbone(encoder: str, in_channels: int, fpn_channels: int) -> Any:
    import timm
    import torch
    from torchvision.ops import FeaturePyramidNetwork
    from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

    class TimmFpnBackbone(torch.nn.Module):
        """timm encoder (features at strides 4, 8, 16, 32) + FPN with an extra max-pooled level."""

        def __init__(self) -> None:
            super().__init__()
            self.body = timm.create_model(encoder, pretrained=False, features_only=True, out_indices=(1, 2, 3, 4),
                                          in_chans=in_channels)
            self.fpn = FeaturePyramidNetwork(self.body.feature_info.channels(), fpn_channels,
                                             extra_blocks=LastLevelMaxPool())
            self.out_channels = fpn_channels

        def forward(self, x: Any) -> Any:
            return self.fpn(OrderedDict((str(i), f) for i, f in enumerate(self.body(x))))

    return TimmFpnBackbone()


def build_maskrcnn(config: ModelConfig) -> Any:
    """A two-class (background, building) Mask R-CNN for ``config`` with random weights (no download)."""
    import torch
    from torchvision.models.detection import MaskRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
    from torchvision.models.detection.transform import GeneralizedRCNNTransform

    check_encoder(config.encoder)
    channels = int(config.decoder_channels[0]) if config.decoder_channels else 128
    backbone = _timm_fpn_backbone(config.encoder, config.band_count, channels)
    size = int(config.tile_size)
    model = MaskRCNN(
        backbone, num_classes=None, min_size=size, max_size=size,
        image_mean=[0.0] * config.band_count, image_std=[1.0] * config.band_count,
        rpn_anchor_generator=AnchorGenerator(ANCHOR_SIZES, ASPECT_RATIOS),
        rpn_pre_nms_top_n_test=1000, rpn_post_nms_top_n_test=500,
        box_batch_size_per_image=256, box_detections_per_img=300, box_score_thresh=0.05,
        box_head=TwoMLPHead(channels * 7 * 7, BOX_FEATURES),
        box_predictor=FastRCNNPredictor(BOX_FEATURES, len(config.classes) + 1),
        # Group norm keeps the mask head's activations in range on an encoder trained for another task.
        mask_head=MaskRCNNHeads(channels, (channels,) * 4, 1, norm_layer=lambda c: torch.nn.GroupNorm(16, c)),
        mask_predictor=MaskRCNNPredictor(channels, channels, len(config.classes) + 1),
    )

    class KeepSize(GeneralizedRCNNTransform):
        """The pipeline already made tiles the right size and normalised them: batch only, never resize."""

        def resize(self, image: Any, target: Any = None) -> Any:
            return image, target

    model.transform = KeepSize(size, size, [0.0] * config.band_count, [1.0] * config.band_count)
    return model


def load_encoder_state(model: Any, state: dict[str, Any], prefix: str = "") -> int:
    """Copy matching encoder weights (timm names after ``prefix``) into the backbone; returns how many."""
    own = model.backbone.body.state_dict()
    usable = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    usable = {k: v for k, v in usable.items() if k in own and own[k].shape == v.shape}
    model.backbone.body.load_state_dict(usable, strict=False)
    return len(usable)


def detect(model: Any, images: Any, score_threshold: float) -> list[dict[str, Any]]:
    """Detections per image of a normalised batch (n, bands, h, w), h and w multiples of 32.

    Returns, per image, ``boxes`` (k, 4) x0 y0 x1 y1 in pixels, ``scores`` (k,) and ``masks`` (k, 28, 28)
    probabilities inside each box. Masks are not pasted into full-size images (torchvision would allocate
    k × h × w floats per tile); :func:`paste_mask` places each one when it is needed.
    """
    from torchvision.models.detection.image_list import ImageList

    model.roi_heads.score_thresh = float(score_threshold)
    size = [tuple(images.shape[-2:])] * images.shape[0]
    batch = ImageList(images, size)
    features = model.backbone(images)
    proposals, _ = model.rpn(batch, features)
    detections, _ = model.roi_heads(features, proposals, batch.image_sizes)
    return [{"boxes": d["boxes"].float().cpu().numpy(), "scores": d["scores"].float().cpu().numpy(),
             "masks": d["masks"][:, 0].float().cpu().numpy()} for d in detections]


def paste_mask(mask: np.ndarray, box: np.ndarray, height: int, width: int) -> tuple[np.ndarray, int, int]:
    """Resample a 28 × 28 box mask onto the pixel grid of its box, clipped to (height, width).

    Returns (probabilities, row0, col0): the pasted window and its top-left pixel. Bilinear sampling at pixel
    centres with edge clamping (as torch's grid_sample with align_corners=False, padding "border"), written
    in numpy because a torch call per detection cost more than the sampling (BENCHMARKS.md).
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    col0, row0 = max(int(np.floor(x0)), 0), max(int(np.floor(y0)), 0)
    col1, row1 = min(int(np.ceil(x1)), width), min(int(np.ceil(y1)), height)
    if col1 <= col0 or row1 <= row0:
        return np.zeros((0, 0), np.float32), row0, col0
    size_y, size_x = mask.shape
    # Pixel centres in the mask's cell coordinates (cell i spans [i, i + 1), its centre is at i + 0.5).
    u = np.clip((np.arange(col0, col1) + 0.5 - x0) / max(x1 - x0, 1e-6) * size_x - 0.5, 0, size_x - 1)
    v = np.clip((np.arange(row0, row1) + 0.5 - y0) / max(y1 - y0, 1e-6) * size_y - 0.5, 0, size_y - 1)
    i0, j0 = np.minimum(v.astype(np.int64), size_y - 2), np.minimum(u.astype(np.int64), size_x - 2)
    wy, wx = (v - i0)[:, None].astype(np.float32), (u - j0)[None, :].astype(np.float32)
    m = np.asarray(mask, np.float32)
    top = m[i0][:, j0] * (1 - wx) + m[i0][:, j0 + 1] * wx
    bottom = m[i0 + 1][:, j0] * (1 - wx) + m[i0 + 1][:, j0 + 1] * wx
    return top * (1 - wy) + bottom * wy, row0, col0


def instance_targets(ids: np.ndarray, min_pixels: int = 12) -> dict[str, Any]:
    """torchvision targets (boxes, labels, masks) from an instance-id raster (0 background, k > 0 instance)."""
    import torch

    boxes, masks = [], []
    for value in np.unique(ids):
        if value <= 0:
            continue
        mask = ids == value
        if np.count_nonzero(mask) < min_pixels:
            continue
        rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
        boxes.append([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1])
        masks.append(mask)
    h, w = ids.shape
    return {
        "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "labels": torch.ones(len(boxes), dtype=torch.int64),
        "masks": torch.from_numpy(np.stack(masks).astype(np.uint8)) if masks else torch.zeros((0, h, w),
                                                                                               dtype=torch.uint8),
    }
