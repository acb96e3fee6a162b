"""Model files: round trip, header rewrite keeping weights, shipped model is self-describing."""

import os

import torch
from safetensors.torch import load_file

from building_extractor.core.model_file import ModelConfig, read_config, save_model_file, update_config
from building_extractor.processing.base_algorithm import default_model_path


def test_update_config_rewrites_header_and_keeps_weights(tmp_path) -> None:
    path = tmp_path / "m.safetensors"
    save_model_file(path, ModelConfig(name="before"), {"w": torch.arange(6.0).reshape(2, 3)})
    before = load_file(str(path))
    update_config(path, name="after", attribution="someone")
    assert read_config(path).name == "after" and read_config(path).attribution == "someone"
    assert torch.equal(load_file(str(path))["w"], before["w"])
    assert os.stat(path).st_mode & 0o044  # readable by others: model files are meant to be shared


def test_shipped_model_describes_itself() -> None:
    config = read_config(default_model_path())
    assert config.architecture == "unet" and config.bands == ["red", "green", "blue"]
    assert 0 < config.threshold < 1 and config.gsd_m > 0
    assert "OpenStreetMap" in config.attribution and config.metrics.get("val_iou", 0) > 0.5
    assert os.path.getsize(default_model_path()) < 25 * 2**20


def test_header_length_with_pickle_marker_byte_is_not_taken_for_pickle(tmp_path) -> None:
    """Regression: a header of 128 + 256·k bytes starts the file with 0x80, the pickle protocol byte."""
    for pad in range(256):
        path = tmp_path / "m.safetensors"
        save_model_file(path, ModelConfig(name="x" * pad), {"w": torch.zeros(1)})
        if path.read_bytes()[:1] == b"\x80":
            break
    else:
        raise AssertionError("no name length gave a 0x80 first byte")
    assert read_config(path).name.startswith("x")
