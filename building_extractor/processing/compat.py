"""What differs between the QGIS versions the plugin supports (3.22 LTR to 4.x, Qt 5 and Qt 6), in one place.

Algorithms import the names here instead of testing versions themselves.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from qgis.core import Qgis, QgsSettings

QGIS_VERSION_INT: int = Qgis.QGIS_VERSION_INT

if QGIS_VERSION_INT >= 33800:
    # QGIS 3.38+ takes QMetaType.Type for field types; it is the only form Qt 6 (QGIS 4) has.
    from qgis.PyQt.QtCore import QMetaType

    class FieldType:
        """Field types for ``QgsField``."""

        INT = QMetaType.Type.Int
        LONG = QMetaType.Type.LongLong
        DOUBLE = QMetaType.Type.Double
        STRING = QMetaType.Type.QString
else:
    from qgis.PyQt.QtCore import QVariant

    class FieldType:  # type: ignore[no-redef]
        """Field types for ``QgsField`` (QVariant.Type before QGIS 3.38)."""

        INT = QVariant.Int
        LONG = QVariant.LongLong
        DOUBLE = QVariant.Double
        STRING = QVariant.String



_TILE_RETRY_KEY = "qgis/defaultTileMaxRetry"
_tile_retry_lock = threading.Lock()
_tile_retry_users = 0
_tile_retry_saved: tuple[bool, object] = (False, None)


@contextmanager
def provider_tile_retries_off() -> Iterator[None]:
    """Switch off the WMS/XYZ provider's own repeats of failed tile requests while the plugin reads a layer.

    QGIS 3.40's provider repeats a tile answered with an HTTP error up to ``qgis/defaultTileMaxRetry`` (3) times
    at once; 3.22's does not for HTTP errors. The layer reader retries whole windows itself, with back-off and
    cancel checks, so on top of the provider's repeats a failing server would get four times the requests. The
    user's setting is restored when the last concurrent reader is done (a counter, as reads can overlap).
    """
    global _tile_retry_users, _tile_retry_saved
    with _tile_retry_lock:
        settings = QgsSettings()
        if _tile_retry_users == 0:
            _tile_retry_saved = (settings.contains(_TILE_RETRY_KEY), settings.value(_TILE_RETRY_KEY))
            settings.setValue(_TILE_RETRY_KEY, 0)
        _tile_retry_users += 1
    try:
        yield
    finally:
        with _tile_retry_lock:
            _tile_retry_users -= 1
            if _tile_retry_users == 0:
                had, value = _tile_retry_saved
                settings = QgsSettings()
                if had:
                    settings.setValue(_TILE_RETRY_KEY, value)
                else:
                    settings.remove(_TILE_RETRY_KEY)
