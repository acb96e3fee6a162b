"""P-LinkNet: smp's LinkNet with a pyramid pooling module between its encoder and decoder.

The module pools the deepest features (stride 32) over the whole tile and over windows of 2, 4 and 8 cells
(64-256 px: 19-77 m at 0.3 m), reduces each with a 1x1 convolution, upsamples them back and fuses them with
the features, so the decoder sees context beyond a building's neighbourhood (dense blocks, large roofs).
PSPNet's module pools to fixed bin counts (1, 2, 3, 6) instead; fixed windows keep the context the same for
every tile size (extraction must not depend on it) and export to ONNX as plain average pools.
"""

from __future__ import annotations

from typing import Any

WINDOWS = (2, 4, 8)  # pooling windows in stride-32 cells, besides the global pool


def build_plinknet(**linknet_arguments: Any) -> Any:
    """A P-LinkNet with random weights; the arguments are smp.Linknet's."""
    import segmentation_models_pytorch as smp
    import torch
    import torch.nn.functional as F
    from torch import nn

    class PyramidPooling(nn.Module):
        """Global and windowed average pools of the features, reduced, upsampled and fused back to their width."""

        def __init__(self, channels: int) -> None:
            super().__init__()
            branch = max(8, channels // (len(WINDOWS) + 1))
            # No batch norm in the branches: a globally pooled batch of one chip has nothing to normalise over.
            pools: list[nn.Module] = [nn.AdaptiveAvgPool2d(1)]
            pools += [nn.AvgPool2d(w, w, ceil_mode=True) for w in WINDOWS]
            self.branches = nn.ModuleList(nn.Sequential(pool, nn.Conv2d(channels, branch, 1), nn.ReLU(inplace=True))
                                          for pool in pools)
            self.fuse = nn.Sequential(nn.Conv2d(channels + branch * len(pools), channels, 1, bias=False),
                                      nn.BatchNorm2d(channels), nn.ReLU(inplace=True))

        def forward(self, x: Any) -> Any:
            size = x.shape[-2:]
            pooled = [F.interpolate(b(x), size=size, mode="bilinear", align_corners=False) for b in self.branches]
            return self.fuse(torch.cat([x, *pooled], dim=1))

    class PLinknet(smp.Linknet):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.pyramid = PyramidPooling(self.encoder.out_channels[-1])

        def forward(self, x: Any) -> Any:
            if not (torch.jit.is_scripting() or torch.jit.is_tracing()):
                self.check_input_shape(x)
            features = self.encoder(x)
            features = [*features[:-1], self.pyramid(features[-1])]
            return self.segmentation_head(self.decoder(features))

    return PLinknet(**linknet_arguments)
