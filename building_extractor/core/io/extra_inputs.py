"""Model inputs beyond the image's bands: indices computed on the fly and second rasters aligned on the grid.

A model file lists them in ``ModelConfig.extra_inputs`` (one channel each, after the image bands):

- ``{"kind": "index", "name": "ndvi"}``: (NIR − red) / (NIR + red) from the image bands named ``red`` and
  ``nir`` in ``ModelConfig.bands`` (a 4-band RGBN image: bands ``["red", "green", "blue", "nir"]``).
- ``{"kind": "index", "name": "shadow"}``: the geometric mean of (1 − band) over red, green and blue, high in
  dark, grey shadows (a brightness-based shadow index).
- ``{"kind": "raster", "name": "height", "scale": 30}``: a height model (nDSM) in metres, or DSM − DTM, given at
  run time (``ExtractionOptions.extra_rasters`` / ``TrainingSource.extra_rasters``: ``{"height": path}`` or
  ``{"dsm": path, "dtm": path}``), aligned on the processing grid (bilinear), divided by ``scale`` and clipped
  to 0-1.

Every channel is handed on in the image's 0-255 units, so training (``/ 255``) and inference (``input_scale``)
treat it like a band. A pixel is valid only where the image and every extra raster are.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputRasterError, ModelFileError
from .aligned_raster import AlignedRaster

INDICES = {"ndvi": ("red", "nir"), "shadow": ("red", "green", "blue")}
RASTER_ROLES = {"height": (("height",), ("dsm", "dtm"))}  # role -> accepted sets of raster keys


def check_extra_inputs(inputs: list[dict[str, Any]], bands: list[str]) -> list[str]:
    """Problems of a model's extra input list (empty when it can run)."""
    problems = []
    for spec in inputs:
        kind, name = spec.get("kind"), spec.get("name")
        if kind == "index" and name in INDICES:
            missing = [b for b in INDICES[name] if b not in bands]
            if missing:
                problems.append(f"index {name} needs the bands {', '.join(missing)} in bands {bands}")
        elif kind == "raster" and name in RASTER_ROLES:
            if not float(spec.get("scale", 0)) > 0:
                problems.append(f"raster input {name} needs a scale above 0")
        else:
            problems.append(f"unknown extra input {spec!r} (indices: {', '.join(INDICES)}; rasters: "
                            f"{', '.join(RASTER_ROLES)})")
    return problems


def describe(inputs: list[dict[str, Any]]) -> str:
    """What a model expects beyond the image, in words."""
    return ", ".join(f"{s['name']} ({'computed from the image' if s['kind'] == 'index' else 'a raster'})"
                     for s in inputs)


class InputStack:
    """A raster reader (:class:`RasterSource` interface) whose windows carry the model's extra channels too."""

    def __init__(self, source: Any, inputs: list[dict[str, Any]], band_names: list[str],
                 rasters: dict[str, str] | None) -> None:
        self.source, self.inputs = source, inputs
        self.band_names = [b.lower() for b in band_names]
        self.aligned: dict[str, list[AlignedRaster]] = {}
        rasters = rasters or {}
        for spec in inputs:
            if spec["kind"] == "raster":
                self.aligned[spec["name"]] = self._open(spec["name"], rasters)
        unused = set(rasters) - {key for keys in (RASTER_ROLES[n] for n in self.aligned) for ks in keys for key in ks}
        if unused:
            raise InputRasterError(f"The model takes no raster called {', '.join(sorted(unused))}; it expects "
                                   f"{describe(inputs) or 'the image alone'}.")

    def _open(self, role: str, rasters: dict[str, str]) -> list[AlignedRaster]:
        """The aligned rasters that make up ``role`` (one, or a DSM and a DTM)."""
        for keys in RASTER_ROLES[role]:
            if all(k in rasters for k in keys):
                return [AlignedRaster(rasters[k], self.source.grid, k, resampling="bilinear") for k in keys]
        accepted = " or ".join(" + ".join(keys) for keys in RASTER_ROLES[role])
        raise InputRasterError(f"The model expects a {role} raster aligned with the image ({accepted}), and none "
                               f"was given. Give the {role} model (e.g. HEIGHT_RASTER, or DSM and DTM), or use a "
                               "model without extra inputs.")

    def __getattr__(self, name: str) -> Any:  # grid, dtype, warnings, footprint(), sample()...: the image's
        return getattr(self.source, name)

    @property
    def extra_count(self) -> int:
        return len(self.inputs)

    def read(self, row: int, col: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """(bands + extras, h, w) float32 and validity; extras in 0-255 units."""
        data, valid = self.source.read(row, col, height, width)
        extras = []
        for spec in self.inputs:
            if spec["kind"] == "index":
                extras.append(self._index(spec["name"], data))
            else:
                channel, known = self._raster(spec, row, col, height, width)
                extras.append(channel)
                valid &= known
        return np.concatenate([data, np.stack(extras)]).astype(np.float32), valid

    def _band(self, data: np.ndarray, name: str) -> np.ndarray:
        return data[self.band_names.index(name)]

    def _index(self, name: str, data: np.ndarray) -> np.ndarray:
        if name == "ndvi":
            red, nir = self._band(data, "red"), self._band(data, "nir")
            total = nir + red
            ndvi = np.divide(nir - red, total, out=np.zeros_like(total), where=total > 0)
            return (ndvi + 1) * 127.5
        # shadow: geometric mean of the darkness of red, green and blue (the image in 0-255 units)
        dark = [1 - np.clip(self._band(data, b) / 255.0, 0, 1) for b in ("red", "green", "blue")]
        return np.cbrt(dark[0] * dark[1] * dark[2]) * 255.0

    def _raster(self, spec: dict[str, Any], row: int, col: int, height: int, width: int
                ) -> tuple[np.ndarray, np.ndarray]:
        reads = [raster.read(row, col, height, width) for raster in self.aligned[spec["name"]]]
        values = reads[0][0] - reads[1][0] if len(reads) == 2 else reads[0][0]
        known = np.logical_and.reduce([r[1] for r in reads])
        return np.clip(values / float(spec["scale"]), 0, 1) * 255.0, known

    def close(self) -> None:
        for rasters in self.aligned.values():
            for raster in rasters:
                raster.close()
        self.source.close()

    def __enter__(self) -> InputStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def with_extra_inputs(source: Any, config: Any, rasters: dict[str, str] | None) -> Any:
    """``source`` itself for an image-only model, else an :class:`InputStack` (closes ``source`` on error)."""
    inputs = getattr(config, "extra_inputs", [])
    if not inputs:
        if rasters:
            source.close()
            raise InputRasterError(f"Model {config.name} takes the image alone; the extra raster(s) "
                                   f"{', '.join(sorted(rasters))} would be ignored. Leave them empty or choose a "
                                   "model trained with them.")
        return source
    problems = check_extra_inputs(inputs, config.bands)
    if problems:
        source.close()
        raise ModelFileError("The model's extra inputs cannot run: " + "; ".join(problems) + ".")
    try:
        return InputStack(source, inputs, config.bands, rasters)
    except BaseException:
        source.close()
        raise
