"""A minimal progress and cancel interface the core reports through (QGIS feedback adapts onto it)."""

from __future__ import annotations

from typing import Protocol

from .errors import Cancelled


class Progress(Protocol):
    """What the core needs from a caller: progress per stage, log lines and a cancel flag."""

    def set_stage(self, index: int, name: str) -> None: ...

    def set_fraction(self, fraction: float) -> None: ...

    def info(self, message: str) -> None: ...

    def warning(self, message: str) -> None: ...

    def is_canceled(self) -> bool: ...


class SilentProgress:
    """Progress that logs nothing and is never cancelled (library and benchmark use)."""

    def __init__(self, verbose: bool = False) -> None:
        self.verbose = verbose
        self.warnings: list[str] = []

    def set_stage(self, index: int, name: str) -> None:
        if self.verbose:
            print(f"[stage {index}] {name}", flush=True)

    def set_fraction(self, fraction: float) -> None:
        pass

    def info(self, message: str) -> None:
        if self.verbose:
            print(message, flush=True)

    def warning(self, message: str) -> None:
        self.warnings.append(message)
        if self.verbose:
            print(f"WARNING: {message}", flush=True)

    def is_canceled(self) -> bool:
        return False


def check_canceled(progress: Progress) -> None:
    """Raise :class:`Cancelled` when the caller asked to stop."""
    if progress.is_canceled():
        raise Cancelled()
