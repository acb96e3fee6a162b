"""Files written whole: a temporary file beside the target, then one atomic rename."""

from __future__ import annotations

import os
import tempfile


def write_text_atomic(path: str | os.PathLike[str], text: str) -> str:
    """Write ``text`` (UTF-8) to ``path``: an existing file is replaced whole or left as it was; folders are
    created. Returns the path."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, partial = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".part", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(partial, 0o666 & ~umask)  # mkstemp makes 0600; outputs are ordinary files
        os.replace(partial, path)
    except BaseException:
        if os.path.exists(partial):
            os.remove(partial)
        raise
    return path


def temporary_root(folder: str | None = None) -> str:
    """The folder a run's temporary files go in: ``folder``, else TMPDIR, else the system's temporary folder.

    Refused with an OutputError when it is missing, relative or not writable: Python's tempfile would otherwise
    fall back to another folder, down to the current working directory, without a word.
    """
    from .errors import OutputError

    root = folder or os.environ.get("TMPDIR") or tempfile.gettempdir()
    problem = ("is not an absolute path" if not os.path.isabs(root) else "does not exist"
               if not os.path.isdir(root) else "" if can_create_files_in(root) else "is not writable")
    if problem:
        raise OutputError(
            f"Cannot create a temporary folder in {root}: it {problem}. Choose a writable temporary folder with "
            "free space (Processing ▸ Options ▸ General ▸ Output folder for temporary files, or the TMPDIR "
            "environment variable)."
        )
    return root


def can_create_files_in(folder: str) -> bool:
    """Whether a file can be created in ``folder``, found by trying: permission bits do not tell for root,
    read-only mounts or special file systems."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False
