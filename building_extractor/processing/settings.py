"""The provider's settings in Processing ▸ Options ▸ Providers ▸ Building extractor (QGIS's own store).

Read through QgsSettings under Processing/Configuration/, where ProcessingConfig keeps them, so that they apply
in qgis_process and processing.run as well as in the desktop.
"""

from __future__ import annotations

import os

from ..core.models.devices import available_devices
from ..core.workers import WORKERS_VARIABLE

WORKERS = "BUILDING_EXTRACTOR_WORKERS"
DEVICE = "BUILDING_EXTRACTOR_DEVICE"
MODELS_FOLDER = "BUILDING_EXTRACTOR_MODELS_FOLDER"
# key -> (description, default)
SETTINGS = {
    WORKERS: ("Worker processes for post-processing (0: automatic; the environment variable "
              f"{WORKERS_VARIABLE} wins)", 0),
    DEVICE: ("Default device (auto, cpu, cuda, mps)", "auto"),
    MODELS_FOLDER: ("Models folder (a MODEL given by file name only is looked up here)", ""),
}
_SET_BY_US: list[str] = []  # the worker count we exported, so that a changed setting replaces it


def setting(key: str):
    """The stored value of a provider setting, or its default."""
    from qgis.core import QgsSettings

    default = SETTINGS[key][1]
    value = QgsSettings().value(f"Processing/Configuration/{key}", default)
    if isinstance(default, int):
        try:
            return max(0, int(value))
        except (TypeError, ValueError):
            return default
    return str(value or default)


def register(provider) -> None:
    """Add the settings to Processing's options (desktop; no-op where the Processing plugin is not loaded)."""
    try:
        from processing.core.ProcessingConfig import ProcessingConfig, Setting
    except ImportError:
        return
    ProcessingConfig.settingIcons[provider.name()] = provider.icon()
    kinds = {WORKERS: Setting.INT, MODELS_FOLDER: Setting.FOLDER}
    for key, (description, default) in SETTINGS.items():
        extra = {"valuetype": kinds[key]} if key in kinds else {}
        if key == DEVICE:
            extra = {"valuetype": Setting.SELECTION, "options": available_devices()}
        ProcessingConfig.addSetting(Setting(provider.name(), key, description, default, **extra))
    ProcessingConfig.readSettings()


def unregister() -> None:
    try:
        from processing.core.ProcessingConfig import ProcessingConfig
    except ImportError:
        return
    for key in SETTINGS:
        ProcessingConfig.removeSetting(key)


def default_device() -> str:
    """The DEVICE default: the setting when this machine has that device, else auto."""
    device = setting(DEVICE)
    return device if device in available_devices() else "auto"


def apply_worker_setting() -> None:
    """Export the worker count for core.workers, unless the user set the environment variable himself."""
    count = setting(WORKERS)
    if os.environ.get(WORKERS_VARIABLE) and not _SET_BY_US:
        return  # the user's environment wins
    if count:
        os.environ[WORKERS_VARIABLE] = str(count)
        _SET_BY_US[:] = [str(count)]
    elif _SET_BY_US:
        os.environ.pop(WORKERS_VARIABLE, None)
        _SET_BY_US.clear()


def resolve_model(path: str) -> str:
    """A MODEL given as a bare file name is looked up in the models folder setting."""
    folder = setting(MODELS_FOLDER)
    if path and folder and not os.path.dirname(path) and not os.path.exists(path):
        candidate = os.path.join(folder, path)
        if os.path.exists(candidate):
            return candidate
    return path
