"""core.gdal_scope: GDAL exceptions inside our calls only, the caller's setting restored (issue 18)."""

from __future__ import annotations

import pytest
from osgeo import gdal, ogr, osr

from building_extractor.core.gdal_scope import gdal_exceptions


def _flags() -> tuple[int, int, int]:
    return gdal.GetUseExceptions(), ogr.GetUseExceptions(), osr.GetUseExceptions()


def test_exceptions_inside_and_the_previous_setting_after_even_on_error(tmp_path):
    assert _flags() == (0, 0, 0)
    with pytest.raises(RuntimeError):
        with gdal_exceptions():
            assert _flags() == (1, 1, 1)
            gdal.Open(str(tmp_path / "missing.tif"))
    assert _flags() == (0, 0, 0)
    assert gdal.Open(str(tmp_path / "missing.tif")) is None


def test_a_caller_that_wants_exceptions_keeps_them():
    gdal.UseExceptions()  # GDAL 3.6: gdal's flag alone; 3.7+ (QGIS 3.40): one flag for gdal, ogr and osr
    caller = _flags()
    try:
        with gdal_exceptions():
            with gdal_exceptions():  # nested, as our functions call each other
                pass
            assert gdal.GetUseExceptions() == 1
        assert _flags() == caller
    finally:
        for module in (osr, ogr, gdal):
            module.DontUseExceptions()
