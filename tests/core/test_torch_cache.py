"""core.models.torch_cache: TorchInductor's cache folder, created by importing torch._dynamo, does not outlive a run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import os, sys
sys.path.insert(0, {root!r})
from building_extractor.core.models.torch_cache import inductor_cache_dir, leaves_tempdir_clean
with leaves_tempdir_clean():
    import torch._dynamo  # what segmentation_models_pytorch and timm import
    print(os.path.isdir(inductor_cache_dir()))
print(os.listdir(os.environ["TMPDIR"]))
"""


def test_the_folder_torch_dynamo_creates_is_removed_after_the_block(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path), "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", SCRIPT.format(root=str(ROOT))], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["True", "[]"], proc.stdout  # created on import, gone after


def test_a_folder_that_was_there_or_holds_files_is_kept(tmp_path, monkeypatch):
    from building_extractor.core.models.torch_cache import inductor_cache_dir, leaves_tempdir_clean

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "cache"))
    assert inductor_cache_dir() == str(tmp_path / "cache")
    (tmp_path / "cache").mkdir()
    with leaves_tempdir_clean():
        pass
    assert (tmp_path / "cache").is_dir()  # there before: kept
    (tmp_path / "cache").rmdir()
    with leaves_tempdir_clean():
        (tmp_path / "cache").mkdir()
        (tmp_path / "cache" / "kernel.py").write_text("")
    assert (tmp_path / "cache" / "kernel.py").exists()  # not empty: kept
