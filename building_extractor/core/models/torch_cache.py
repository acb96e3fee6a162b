"""Runs leave the temporary folder as they found it: no empty ``torchinductor_<user>`` folder.

Importing ``torch._dynamo`` (which segmentation_models_pytorch and timm import with torch) creates TorchInductor's
cache folder, ``$TMPDIR/torchinductor_<user>`` or ``$TORCHINDUCTOR_CACHE_DIR``, at import time
(``torch._dynamo.package`` builds its disk cache object then), although nothing here compiles (no
``torch.compile``). :func:`leaves_tempdir_clean` removes that folder after a run when the run created it and it is
still empty; a folder that was there before, or that holds anything, is left alone.
"""

from __future__ import annotations

import getpass
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


def inductor_cache_dir() -> str:
    """The folder TorchInductor's ``cache_dir()`` creates (torch 2.x: ``_inductor/runtime/cache_dir_utils.py``)."""
    chosen = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    if chosen:
        return os.path.abspath(chosen)
    try:
        user = getpass.getuser()
    except (KeyError, ModuleNotFoundError, OSError):
        getuid = getattr(os, "getuid", None)
        user = f"uid_{getuid()}" if callable(getuid) else "unknown_user"
    return os.path.join(tempfile.gettempdir(), "torchinductor_" + re.sub(r'[\\/:*?"<>|]', "_", user))


@contextmanager
def leaves_tempdir_clean() -> Iterator[None]:
    """Remove TorchInductor's cache folder after the block if the block created it and left it empty."""
    path = inductor_cache_dir()
    existed = os.path.lexists(path)
    try:
        yield
    finally:
        if not existed:
            try:
                os.rmdir(path)  # only an empty folder goes
            except OSError:
                pass
