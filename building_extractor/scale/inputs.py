"""Inputs of a scaled-out run as one GDAL dataset: a raster or VRT path, or a mosaic VRT (as XML text) of a
list or folder of rasters or of a STAC ItemCollection's assets.

A mosaic travels to the workers as its XML, so they need no shared folder for it (only for the rasters it
names, or network access to their URLs).
"""

from __future__ import annotations

import glob
import hashlib
import os
from collections.abc import Sequence

from ..core.errors import InputRasterError

RASTER_PATTERNS = ("*.tif", "*.tiff", "*.TIF", "*.TIFF", "*.jp2", "*.img", "*.vrt")
#: Asset keys tried in order when a STAC item has several (``asset`` overrides).
STAC_ASSET_KEYS = ("visual", "image", "data", "ortho", "rgb")


def resolve_input(inputs: str | Sequence[str], asset: str | None = None) -> str:
    """One GDAL dataset for a raster, a VRT, a list or folder of rasters, or a STAC ItemCollection (.json)."""
    paths = [inputs] if isinstance(inputs, str) else list(inputs)
    if not paths:
        raise InputRasterError("No input raster given. Name a raster, a VRT, a folder of rasters or a STAC "
                               "ItemCollection.")
    if len(paths) == 1:
        path = paths[0]
        if os.path.isdir(path):
            found = sorted({f for pattern in RASTER_PATTERNS for f in glob.glob(os.path.join(path, pattern))})
            if not found:
                raise InputRasterError(f"The folder {path} holds no rasters ({', '.join(RASTER_PATTERNS)}). "
                                       "Choose a folder of GeoTIFFs or name the rasters.")
            return mosaic(found)
        if path.lower().endswith(".json"):
            return mosaic(stac_hrefs(path, asset))
        return _dataset_path(path)
    return mosaic([_dataset_path(p) for p in paths])


def _dataset_path(path: str) -> str:
    if "://" in path:
        return gdal_url(path)
    if path.startswith("/vsi"):
        return path
    if not os.path.exists(path):
        raise InputRasterError(f"Raster {path} does not exist. Choose an existing raster file.")
    return os.path.abspath(path)


def gdal_url(href: str) -> str:
    """A GDAL path for a URL (/vsicurl/, /vsis3/, /vsigs/, /vsiaz/) or a local path for file:// and paths."""
    for scheme, prefix in (("http://", "/vsicurl/"), ("https://", "/vsicurl/"), ("s3://", "/vsis3/"),
                           ("gs://", "/vsigs/"), ("az://", "/vsiaz/")):
        if href.startswith(scheme):
            return prefix + (href if prefix == "/vsicurl/" else href[len(scheme):])
    return href[len("file://"):] if href.startswith("file://") else href


def stac_hrefs(path: str, asset: str | None = None) -> list[str]:
    """GDAL paths of one raster asset per item of a STAC ItemCollection (or a single Item) file."""
    try:
        import pystac
    except ImportError as exc:
        raise InputRasterError("Reading a STAC ItemCollection needs the Python package pystac: "
                               "python3 -m pip install pystac") from exc
    import json

    with open(path, encoding="utf-8") as stream:
        document = json.load(stream)
    if document.get("type") == "Feature":
        items = [pystac.Item.from_dict(document)]
    else:
        items = list(pystac.ItemCollection.from_dict(document))
    for item in items:
        item.set_self_href(os.path.abspath(path)) if item.get_self_href() is None else None
    hrefs = []
    for item in items:
        chosen = _stac_asset(item, asset)
        hrefs.append(gdal_url(chosen.get_absolute_href() or chosen.href))
    if not hrefs:
        raise InputRasterError(f"The STAC file {path} holds no items. Give an ItemCollection with raster assets.")
    return hrefs


def _stac_asset(item: object, asset: str | None) -> object:
    assets = item.assets  # type: ignore[attr-defined]
    if asset:
        if asset not in assets:
            raise InputRasterError(f"STAC item {item.id} has no asset '{asset}' (it has {', '.join(assets)}). "  # type: ignore[attr-defined]
                                   "Choose one of those with --asset.")
        return assets[asset]
    for key in STAC_ASSET_KEYS:
        if key in assets:
            return assets[key]
    images = [a for a in assets.values() if "tiff" in (a.media_type or "") or "jp2" in (a.media_type or "")]
    if not images:
        raise InputRasterError(f"STAC item {item.id} has no GeoTIFF asset. Name the asset to use with --asset.")  # type: ignore[attr-defined]
    return images[0]


def mosaic(paths: list[str]) -> str:
    """The XML of a VRT mosaicking ``paths`` (one CRS and band layout required: GDAL would skip the others)."""
    from osgeo import gdal, osr

    gdal.UseExceptions()
    reference = None
    for path in paths:
        try:
            dataset = gdal.Open(path)
        except RuntimeError as exc:
            raise InputRasterError(f"GDAL cannot read raster {path}: {exc}. Check the file or URL.") from exc
        srs = dataset.GetSpatialRef()
        layout = (dataset.RasterCount, dataset.GetRasterBand(1).DataType)
        if reference is None:
            reference = (path, srs, layout)
        elif layout != reference[2] or (srs is None) != (reference[1] is None) or (
                srs is not None and not srs.IsSame(reference[1] or osr.SpatialReference())):
            raise InputRasterError(
                f"{path} differs from {reference[0]} in CRS or bands; a mosaic needs one CRS and band layout. "
                "Warp the rasters to one CRS first (gdalwarp -t_srs) or run them separately."
            )
    vrt = f"/vsimem/building_extractor_mosaic_{os.getpid()}.vrt"
    gdal.BuildVRT(vrt, paths)
    handle = gdal.VSIFOpenL(vrt, "rb")
    size = gdal.VSIStatL(vrt).size
    xml = gdal.VSIFReadL(1, size, handle).decode("utf-8")
    gdal.VSIFCloseL(handle)
    gdal.Unlink(vrt)
    return xml


def gdal_path(dataset: str) -> str:
    """A path GDAL and rasterio open: the dataset itself, or its VRT XML written once to /vsimem/."""
    if not dataset.lstrip().startswith("<VRTDataset"):
        return dataset
    from osgeo import gdal

    path = f"/vsimem/building_extractor/{hashlib.sha1(dataset.encode()).hexdigest()}.vrt"
    if gdal.VSIStatL(path) is None:
        gdal.FileFromMemBuffer(path, dataset.encode("utf-8"))
    return path
