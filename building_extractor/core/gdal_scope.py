"""GDAL exceptions for our own calls only: QGIS and other plugins keep the setting they had."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gdal_exceptions() -> Iterator[None]:
    """Turn GDAL/OGR/OSR exceptions on inside the block and restore each module's previous setting after.

    ``gdal.UseExceptions()`` is process-wide: called bare, it changes ``gdal.Open`` for every script and plugin
    in QGIS (None becomes an exception). GDAL 3.7 has ``gdal.ExceptionMgr`` for this; Debian 12 ships 3.6, so
    we save and restore by hand. The three bindings keep separate flags in 3.6, hence all three.
    """
    from osgeo import gdal, ogr, osr

    modules = (gdal, ogr, osr)
    before = [module.GetUseExceptions() for module in modules]
    for module in modules:
        module.UseExceptions()
    try:
        yield
    finally:
        # Reverse order: GDAL 3.6 keeps the three error handlers on a stack and refuses to pop out of order.
        for module, was_on in reversed(list(zip(modules, before))):
            if not was_on:
                module.DontUseExceptions()
