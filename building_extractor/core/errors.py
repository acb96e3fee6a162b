"""Error types of the core. Every message says what is wrong and what to do about it."""


class BuildingExtractorError(Exception):
    """Base class of the errors the core raises on bad input; the message is meant for users."""


class InputRasterError(BuildingExtractorError):
    """The input raster cannot be used as it is (unreadable, no usable bands, rotated, ...)."""


class ModelFileError(BuildingExtractorError):
    """A model file is missing, corrupt, unsafe (pickle) or does not fit the algorithm or raster."""


class DependencyError(BuildingExtractorError):
    """A Python package the algorithm needs is not installed."""


class DeviceError(BuildingExtractorError):
    """The requested compute device is not available."""


class OutputError(BuildingExtractorError):
    """An output cannot be written (path, format, disk space)."""


class Cancelled(BuildingExtractorError):
    """The user cancelled the run; partial outputs have been removed."""

    def __init__(self, message: str = "Cancelled by the user; partial outputs were removed.") -> None:
        super().__init__(message)
