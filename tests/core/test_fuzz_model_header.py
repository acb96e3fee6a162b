"""Property test: a model file whose header has any field set to any hostile value (wrong type, NaN, ±Inf, huge
or negative numbers, strings for numbers, objects for lists, control characters) is either refused with a
ModelFileError that names the field, or loads into a network whose output is finite and of the right shape.

The weights of one small real U-Net are written once; each example rewrites only the safetensors header.
"""

from __future__ import annotations

import json
import math
import struct

import pytest

from building_extractor.core.errors import ModelFileError
from building_extractor.core.models.config import CONFIG_KEY, ModelConfig, escaped
from building_extractor.core.models.model_file import read_config, save_model_file

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies
torch = pytest.importorskip("torch")

BASE = ModelConfig(encoder="efficientnet_lite0", decoder_channels=[16, 16, 8, 8, 4], tile_size=64, overlap=16,
                   name="fuzz")
HOSTILE = [None, True, False, 0, -1, 1, 3, 7, 2**31, 10**15, 1e308, -1e308, math.nan, math.inf, -math.inf, 0.5,
           "", "512", "0.3", "NaN", "a\x1b[31mred\x00", "x" * 5000, [], [1], [0.5, 0.5, 0.5], ["red"] * 3,
           [math.nan] * 3, [10**9] * 5, [4096] * 5, [16] * 9, [{}], {}, {"a": 1}, [[1, 2]], "maskrcnn", "unet",
           "resnet18", "no_such_encoder", "red"]
# Values some field accepts: the accept path must run too.
FITTING = [0.25, 0.9, 2.0, 32, 64, 96, 0, 1.5, [0.4, 0.5, 0.6], [0.2, 0.3, 0.25], ["building"], "unet",
           "efficientnet_lite0", "roofs \u00e9", {"note": "x"}]
FIELDS = sorted(ModelConfig.__dataclass_fields__) + ["format_version", "format"]


def write_with_header(source, path, header_update: dict) -> None:
    """Copy the safetensors file ``source`` to ``path`` with its building_extractor description updated."""
    source = source.read_bytes()
    (length,) = struct.unpack("<Q", source[:8])
    header = json.loads(source[8:8 + length])
    description = json.loads(header["__metadata__"][CONFIG_KEY])
    description.update(header_update)
    header["__metadata__"][CONFIG_KEY] = json.dumps(description)  # NaN and Infinity as Python's json writes them
    encoded = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + source[8 + length:])


@pytest.fixture(scope="module")
def base_model(tmp_path_factory):
    from building_extractor.core.models.builders import build_model

    path = tmp_path_factory.mktemp("fuzz_header") / "base.safetensors"
    torch.manual_seed(0)
    save_model_file(path, BASE, build_model(BASE).state_dict())
    return path


@hypothesis.settings(max_examples=60, deadline=None, derandomize=True,
                     suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture])
@hypothesis.given(changes=st.dictionaries(st.sampled_from(FIELDS), st.sampled_from(HOSTILE) | st.sampled_from(FITTING),
                                          min_size=1, max_size=2))
def test_any_header_is_refused_clearly_or_runs(base_model, tmp_path, changes) -> None:
    from building_extractor.core.models.builders import load_model

    torch.set_num_threads(1)
    path = tmp_path / "m.safetensors"
    write_with_header(base_model, path, changes)
    try:
        config = read_config(path)
        _, model = load_model(str(path))
    except ModelFileError as exc:
        message = str(exc)
        assert "\x1b" not in message and "\x00" not in message and len(message) < 2000
        named = [field for field in changes if field in message]
        assert named or any(word in message for word in ("description", "format", "weights", "encoder")), message
        hypothesis.event(f"refused: {message[:45]}")
        return
    hypothesis.event("runs")
    for field, value in changes.items():  # what was accepted is what the config holds
        if field in ModelConfig.__dataclass_fields__:
            held = escaped(value) if isinstance(value, str) else value  # texts come back with escapes
            assert getattr(config, field) in (held, value) or (isinstance(value, float) and math.isnan(value)) \
                or (isinstance(value, list) and field in ("bands", "classes"))
    assert all(math.isfinite(v) for v in (*config.mean, *config.std, config.gsd_m, config.input_scale))
    with torch.no_grad():
        output = model(torch.zeros(1, config.band_count, config.tile_size, config.tile_size))
    assert output.shape == (1, len(config.classes), config.tile_size, config.tile_size)
    assert torch.isfinite(output).all()


def test_header_with_a_huge_decoder_is_refused_before_the_network_is_built(base_model, tmp_path) -> None:
    """Regression (issue 20.10): a decoder of 1024 channels per stage fits the header's ranges but not the
    weights; the shapes are compared on torch's meta device, so nothing of its size is allocated."""
    from building_extractor.core.models import builders as models

    built: list[str] = []
    real_build = models.build_model

    def spy(config):
        built.append(str(torch.empty(0).device))
        return real_build(config)

    path = tmp_path / "huge.safetensors"
    write_with_header(base_model, path, {"decoder_channels": [1024] * 5})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(models, "build_model", spy)
        with pytest.raises(ModelFileError, match="do not fit the network its header describes"):
            models.load_model(str(path))
    assert built == ["meta"]  # only the shape-only build ran


def test_control_characters_in_header_texts_are_escaped(base_model, tmp_path) -> None:
    """Regression (issue 20.15): a model's name was echoed raw into the log (terminal escapes, NUL)."""
    path = tmp_path / "m.safetensors"
    write_with_header(base_model, path, {"name": "roofs\x1b[31m red\x00", "description": "a\nb",
                                         "classes": ["building\x07"]})
    config = read_config(path)
    assert config.name == "roofs\\x1b[31m red\\x00" and config.description == "a\\nb"
    assert config.classes == ["building\\x07"]
