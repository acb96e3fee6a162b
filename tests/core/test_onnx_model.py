"""ONNX model files: export, metadata, and onnxruntime against torch on real tiles of both architectures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from building_extractor.core.errors import ModelFileError
from building_extractor.core.models.choices import ARCHITECTURES, ENCODERS
from building_extractor.core.models.config import ModelConfig
from building_extractor.core.models.export import DEEPNESS_KEYS
from building_extractor.core.models.model_file import read_config, save_model_file
from building_extractor.core.models.onnx_model import read_metadata_props

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "building_extractor" / "models"


def real_tiles(raster: Path, config: ModelConfig, size: int, count: int) -> np.ndarray:
    """The first ``count`` tiles of ``size`` px of a real raster at the model's GSD, normalised as the pipeline
    does."""
    from building_extractor.core.extract.inference import TileReader
    from building_extractor.core.extract.tiling import make_tiles
    from building_extractor.core.io.raster_source import RasterSource
    from building_extractor.core.progress import SilentProgress

    with RasterSource(str(raster), config.gsd_m, None, config.band_count) as source:
        tiles = [t for row in make_tiles(source.grid.width, source.grid.height, size, 0) for t in row][:count]
        return next(TileReader(source, config, size, count, tiles, SilentProgress()).batches()).images


def session(path: str | Path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_shipped_onnx_models_are_the_shipped_safetensors_models() -> None:
    """Same description and the very same weights: the ONNX files were exported from the current models."""
    from building_extractor.core.models.model_file import load_model_file

    for architecture in ("unet", "maskrcnn"):
        onnx_config, onnx_state = load_model_file(MODELS / f"default_{architecture}.onnx")
        config, state = load_model_file(MODELS / f"default_{architecture}.safetensors")
        assert onnx_config == config
        floats = {name for name, tensor in state.items() if not name.endswith("num_batches_tracked")}
        assert floats <= set(onnx_state)
        assert all(torch.equal(onnx_state[name], state[name]) for name in floats)


def test_metadata_has_our_description_and_deepness_keys_read_without_onnx_or_torch() -> None:
    path = MODELS / "default_unet.onnx"
    # A fresh Python where onnx, onnxruntime, torch and safetensors cannot be imported.
    code = ("import sys, json\n"
            "for name in ('onnx', 'onnxruntime', 'torch', 'safetensors'): sys.modules[name] = None\n"
            "from building_extractor.core.models.model_file import read_config\n"
            f"print(json.dumps(read_config({str(path)!r}).tile_size))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    config = read_config(path)
    assert json.loads(out.stdout) == config.tile_size == 1024
    props = read_metadata_props(path)
    assert set(DEEPNESS_KEYS) <= set(props)
    assert json.loads(props["model_type"]) == "Segmentor"
    assert json.loads(props["class_names"]) == {"0": "building"}
    assert json.loads(props["resolution"]) == pytest.approx(config.gsd_m * 100)
    assert json.loads(props["seg_thresh"]) == config.threshold
    assert "model_type" not in read_metadata_props(MODELS / "default_maskrcnn.onnx")  # Deepness reads YOLO only


def test_damaged_and_foreign_onnx_files_are_refused(tmp_path) -> None:
    data = (MODELS / "default_unet.onnx").read_bytes()
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(data[:len(data) // 2])
    with pytest.raises(ModelFileError, match="corrupt or truncated"):
        read_config(truncated)
    import onnx

    foreign = onnx.load(str(MODELS / "default_unet.onnx"))
    del foreign.metadata_props[:]
    onnx.save(foreign, str(tmp_path / "foreign.onnx"))
    with pytest.raises(ModelFileError, match="without a building_extractor description"):
        read_config(tmp_path / "foreign.onnx")


@pytest.mark.slow
def test_unet_onnx_matches_torch_on_real_tiles(shared_data) -> None:
    from building_extractor.core.models.builders import load_model

    config, model = load_model(str(MODELS / "default_unet.safetensors"))
    images = real_tiles(shared_data / "banepa" / "train.tif", config, 512, 2)
    with torch.inference_mode():
        expected = torch.sigmoid(model(torch.from_numpy(images)))[:, 0].numpy()
    got = session(MODELS / "default_unet.onnx").run(None, {"image": images})[0][:, 0]
    assert got.shape == expected.shape == (2, 512, 512)  # 512 px tiles and a batch of 2 from a 1024 px export
    assert np.abs(got - expected).max() < 1e-4
    assert ((expected >= config.threshold).sum() > 10_000)  # real buildings in the tiles
    assert np.array_equal(got >= config.threshold, expected >= config.threshold)


@pytest.mark.slow
def test_maskrcnn_onnx_gives_the_same_detections_on_real_tiles(shared_data) -> None:
    from building_extractor.core.models.builders import load_model
    from building_extractor.core.models.maskrcnn import detect

    config, model = load_model(str(MODELS / "default_maskrcnn.safetensors"))
    images = real_tiles(shared_data / "banepa" / "train.tif", config, 384, 2)
    runner = session(MODELS / "default_maskrcnn.onnx")
    for image, threshold in zip(images, (config.threshold, 0.3)):  # the threshold is an input of the graph
        with torch.inference_mode():
            expected = detect(model, torch.from_numpy(image[None]), threshold)[0]
        boxes, scores, masks = runner.run(None, {"image": image[None],
                                                 "score_threshold": np.asarray(threshold, np.float32)})
        assert len(expected["scores"]) > 5 and len(scores) == len(expected["scores"])
        assert np.abs(boxes - expected["boxes"]).max() < 1e-2  # pixels
        assert np.abs(scores - expected["scores"]).max() < 1e-4
        assert np.abs(masks - expected["masks"]).max() < 1e-3


# Every architecture train_model offers, each with another encoder, so every encoder is exported once too.
PAIRS = list(zip(ARCHITECTURES, ENCODERS))


@pytest.mark.slow
@pytest.mark.parametrize("architecture,encoder", PAIRS)
def test_every_architecture_train_model_offers_exports(tmp_path, shared_data, architecture, encoder) -> None:
    """Random-weight networks: exported from safetensors, at another tile size than exported, they give torch's
    output."""
    from building_extractor.core.models.builders import build_model, load_model
    from building_extractor.core.models.export import export_model_file
    from building_extractor.core.models.maskrcnn import detect, maskrcnn_config

    make = maskrcnn_config if architecture == "maskrcnn" else ModelConfig
    widths = [16] * (1 if architecture == "maskrcnn" else 5)
    config = make(architecture=architecture, encoder=encoder, decoder_channels=widths, tile_size=256,
                  name=f"tiny-{encoder}")
    torch.manual_seed(0)
    save_model_file(tmp_path / "tiny.safetensors", config, build_model(config).state_dict())
    path = export_model_file(tmp_path / "tiny.safetensors")
    assert path == str(tmp_path / "tiny.onnx") and read_config(path) == read_config(tmp_path / "tiny.safetensors")
    _, model = load_model(str(tmp_path / "tiny.safetensors"))
    image = real_tiles(shared_data / "kampala" / "image_1.tif", config, 128, 1)
    with torch.inference_mode():
        if architecture != "maskrcnn":
            expected = [torch.sigmoid(model(torch.from_numpy(image))).numpy()]
        else:
            found = detect(model, torch.from_numpy(image), 0.0)[0]
            expected = [found["boxes"], found["scores"], found["masks"]]
    inputs = {"image": image}
    if architecture == "maskrcnn":
        inputs["score_threshold"] = np.asarray(0.0, np.float32)
    got = session(path).run(None, inputs)
    for a, b in zip(got, expected):
        assert a.shape == b.shape and np.abs(a - b).max() < 1e-3


def test_export_refuses_to_overwrite_its_input(tmp_path) -> None:
    from building_extractor.core.models.export import export_model_file

    with pytest.raises(ModelFileError, match="already an ONNX"):
        export_model_file(MODELS / "default_unet.onnx", tmp_path / "x.onnx")


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["unet", "maskrcnn"])
def test_both_backends_agree_with_test_time_augmentation(shared_data, architecture) -> None:
    """core.models.backends runners on a real tile with TTA (flips): onnxruntime gives torch's probabilities and
    detections."""
    from building_extractor.core.models.backends import open_model

    path = str(MODELS / f"default_{architecture}.safetensors")
    fast, slow = (open_model(path, architecture, backend, "cpu", tta="flips") for backend in ("onnxruntime", "torch"))
    assert (fast.backend, slow.backend) == ("onnxruntime", "torch")
    image = real_tiles(shared_data / "banepa" / "train.tif", fast.config, 256, 1)
    got, expected = fast(image), slow(image)
    if architecture == "unet":
        assert np.abs(got - expected).max() < 1e-4 and (expected >= fast.config.threshold).any()
    else:
        assert len(got[0]["scores"]) == len(expected[0]["scores"]) > 0
        assert np.abs(got[0]["scores"] - expected[0]["scores"]).max() < 1e-4
        assert np.abs(got[0]["boxes"] - expected[0]["boxes"]).max() < 1e-2
