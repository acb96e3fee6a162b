"""What a job may read: layer references inside the data folder or by an allowed URL, uploads, size limits.

QGIS-free (GDAL only), so the HTTP front (routes.py) checks a request before a job is made, and the
workers (adapters.py) check again whatever reaches them by the WPS 1.0.0 endpoint.
"""

from __future__ import annotations

import math
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from osgeo import gdal, osr

UPLOAD_SUFFIX = ".tif"


class RefusedInput(ValueError):
    """A reference or upload the service will not read; the message says what is wrong and what to do."""


@dataclass(frozen=True)
class InputPolicy:
    """Where layers may come from and how large a raster may be."""

    data_dir: Path
    upload_dir: Path
    url_schemes: tuple[str, ...]
    max_pixels: int

    @property
    def roots(self) -> tuple[Path, ...]:
        return (self.data_dir.resolve(), self.upload_dir.resolve())


def resolve_reference(reference: str, policy: InputPolicy) -> str:
    """The GDAL/OGR source for a client's reference: a path in the data folder, or /vsicurl/ for a URL."""
    reference = reference.strip()
    if not reference:
        raise RefusedInput("The layer reference is empty: give a path inside the data folder or a URL.")
    if "|" in reference or reference.startswith("/vsi"):
        raise RefusedInput(f"'{reference}' uses GDAL or QGIS source options, which this service does not take: "
                           "give a plain path inside the data folder or a URL.")
    parts = urlsplit(reference)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if scheme not in policy.url_schemes:
            raise RefusedInput(f"URLs with '{scheme}:' are not allowed here; allowed: "
                               f"{', '.join(policy.url_schemes) or 'none'}. Upload the raster instead.")
        return f"/vsicurl/{reference}"
    if scheme == "file":
        reference = unquote(parts.path)
    elif scheme and len(scheme) > 1:  # a one-letter "scheme" would be a Windows drive
        raise RefusedInput(f"'{scheme}:' references are not allowed; give a path inside the data folder or "
                           f"a URL ({', '.join(policy.url_schemes) or 'none allowed'}).")
    return str(_path_in_roots(reference, policy))


def _path_in_roots(reference: str, policy: InputPolicy) -> Path:
    """An existing file inside the data or upload folder (symbolic links resolved), else RefusedInput."""
    path = Path(reference)
    if ".." in path.parts:
        raise RefusedInput(f"'{reference}' contains '..': give a path inside the data folder, without '..'.")
    candidate = (path if path.is_absolute() else policy.data_dir / path).resolve()
    if not any(candidate.is_relative_to(root) for root in policy.roots):
        raise RefusedInput(f"'{reference}' is outside the data folder this service reads from: copy the file "
                           "into the data folder and give its path relative to it, or upload it.")
    if not candidate.is_file():
        raise RefusedInput(f"'{reference}' was not found in the data folder: check the name (paths are relative "
                           "to the data folder), or upload the raster.")
    return candidate


def check_raster_size(source: str, policy: InputPolicy, bbox: list[float] | None = None,
                      bbox_crs: str | None = None) -> tuple[int, int]:
    """Width and height of the raster, or of its part inside bbox (xmin, ymin, xmax, ymax in bbox_crs, default
    CRS84); RefusedInput if GDAL cannot open it or that is over the pixel limit."""
    with _gdal_exceptions():
        try:
            dataset = gdal.Open(source)
        except RuntimeError as exc:
            raise RefusedInput(f"The raster cannot be opened ({_short(exc)}): give a GeoTIFF or another "
                               "raster GDAL reads.") from None
    width, height = dataset.RasterXSize, dataset.RasterYSize
    where = "The raster has"
    if bbox is not None:
        width, height = _window_size(dataset, bbox, bbox_crs)
        where = "The raster's part inside EXTENT has"
    if width * height > policy.max_pixels:
        raise RefusedInput(f"{where} {width} x {height} = {width * height / 1e6:.1f} MP; this service "
                           f"takes at most {policy.max_pixels / 1e6:.1f} MP per job. Crop or split it, or run "
                           "it with qgis_process.")
    return width, height


def _window_size(dataset: gdal.Dataset, bbox: list[float], bbox_crs: str | None) -> tuple[int, int]:
    """Pixels of a north-up raster inside bbox (the whole raster if rotated or the CRS is unknown)."""
    transform, crs = dataset.GetGeoTransform(), dataset.GetSpatialRef()
    if transform[2] or transform[4] or crs is None:
        return dataset.RasterXSize, dataset.RasterYSize
    source = osr.SpatialReference()
    if source.SetFromUserInput(bbox_crs or "OGC:CRS84") != 0:  # osr's error code (its exceptions are off)
        raise RefusedInput(f"EXTENT: unknown CRS '{bbox_crs}'; give e.g. http://www.opengis.net/def/crs/EPSG/0/4326.")
    target = crs.Clone()
    for srs in (source, target):
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    xmin, ymin, xmax, ymax = osr.CoordinateTransformation(source, target).TransformBounds(*bbox[:4], 21)
    columns = sorted([(xmin - transform[0]) / transform[1], (xmax - transform[0]) / transform[1]])
    rows = sorted([(ymax - transform[3]) / transform[5], (ymin - transform[3]) / transform[5]])
    width = min(dataset.RasterXSize, math.ceil(columns[1])) - max(0, math.floor(columns[0]))
    height = min(dataset.RasterYSize, math.ceil(rows[1])) - max(0, math.floor(rows[0]))
    return max(0, width), max(0, height)


@contextmanager
def _gdal_exceptions() -> Iterator[None]:
    """GDAL errors as exceptions here only (GDAL 3.6 has no gdal.ExceptionMgr; QGIS code expects the default)."""
    was_on = gdal.GetUseExceptions()
    gdal.UseExceptions()
    try:
        yield
    finally:
        if not was_on:
            gdal.DontUseExceptions()


def _short(exc: Exception) -> str:
    """GDAL's message without the server-side folder names it may carry."""
    return str(exc).splitlines()[0][:200]


def save_upload(data: bytes, policy: InputPolicy) -> str:
    """Writes an uploaded raster into the upload folder (whole or not at all) and returns its path."""
    if not data:
        raise RefusedInput("The uploaded raster is empty.")
    policy.upload_dir.mkdir(parents=True, exist_ok=True)
    target = policy.upload_dir / f"{uuid.uuid4().hex}{UPLOAD_SUFFIX}"
    partial = target.with_suffix(".part")
    partial.write_bytes(data)
    os.replace(partial, target)
    try:
        check_raster_size(str(target), policy)
    except RefusedInput:
        target.unlink()
        raise
    return str(target)


def prune_uploads(upload_dir: Path, max_age_s: float) -> int:
    """Deletes uploads older than max_age_s (they expire with the jobs that read them); returns the count."""
    if not upload_dir.is_dir():
        return 0
    oldest = time.time() - max_age_s
    removed = 0
    for path in upload_dir.iterdir():
        if path.is_file() and path.stat().st_mtime < oldest:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def policy_from_config(section) -> InputPolicy:
    """The InputPolicy of the [building_extractor] section of the service configuration (paths absolute)."""
    return InputPolicy(data_dir=Path(section["data_dir"]).resolve(),
                       upload_dir=Path(section["upload_dir"]).resolve(),
                       url_schemes=tuple(section.get("url_schemes", "").lower().split()),
                       max_pixels=int(float(section["max_pixels"])))
