"""What differs between the QGIS versions the plugin supports (3.22 LTR to 4.x, Qt 5 and Qt 6), in one place.

Algorithms import the names here instead of testing versions themselves.
"""

from __future__ import annotations

from qgis.core import Qgis

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

