"""Model files: round trip, header rewrite keeping weights, shipped model is self-describing."""

import os

import pytest
import torch
from safetensors.torch import load_file

from building_extractor.core.errors import ModelFileError
from building_extractor.core.models.config import ModelConfig
from building_extractor.core.models.model_file import (
    average_model_files,
    load_model_file,
    read_config,
    save_model_file,
    shipped_model_path,
    update_config,
)


def test_update_config_rewrites_header_and_keeps_weights(tmp_path) -> None:
    path = tmp_path / "m.safetensors"
    save_model_file(path, ModelConfig(name="before"), {"w": torch.arange(6.0).reshape(2, 3)})
    before = load_file(str(path))
    update_config(path, name="after", attribution="someone")
    assert read_config(path).name == "after" and read_config(path).attribution == "someone"
    assert torch.equal(load_file(str(path))["w"], before["w"])
    assert os.stat(path).st_mode & 0o044  # readable by others: model files are meant to be shared


def test_shipped_model_describes_itself() -> None:
    config = read_config(shipped_model_path())
    assert config.architecture == "unet" and config.bands == ["red", "green", "blue"]
    assert 0 < config.threshold < 1 and config.gsd_m > 0
    assert "OpenStreetMap" in config.attribution and config.metrics.get("val_iou", 0) > 0.5
    assert os.path.getsize(shipped_model_path()) < 25 * 2**20


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


def test_averaged_model_file_holds_the_mean_weights_and_runs(tmp_path) -> None:
    """Two real U-Nets (same config, different weights) average into a file whose float tensors are the mean,
    whose batch-norm counters are the first file's, and which builds and predicts."""
    from building_extractor.core.models.builders import build_model, load_model

    config = ModelConfig(name="a", encoder="resnet18", decoder_channels=[16, 16, 8, 8, 4])
    paths = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = build_model(config)
        paths.append(tmp_path / f"m{seed}.safetensors")
        save_model_file(paths[-1], config, model.state_dict(), half=False)
    out = tmp_path / "soup.safetensors"
    soup_config = average_model_files(paths, out)
    (_, a), (_, b), (_, soup) = (load_model_file(p) for p in (*paths, out))
    floats = [name for name in a if "num_batches_tracked" not in name]
    assert all(torch.allclose(soup[name], (a[name] + b[name]) / 2, atol=1e-3) for name in floats)
    assert not torch.equal(a[floats[0]], b[floats[0]])
    assert "average of 2 models" in read_config(out).description and soup_config.name == "a"
    _, model = load_model(str(out))
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 1, 64, 64)
    other = tmp_path / "other.safetensors"
    save_model_file(other, ModelConfig(name="b", encoder="resnet34"), build_model(
        ModelConfig(encoder="resnet34", decoder_channels=[16, 16, 8, 8, 4])).state_dict())
    with pytest.raises(ModelFileError, match="same network"):
        average_model_files([paths[0], other], tmp_path / "bad.safetensors")
