"""Other ways to run the default U-Net, against onnxruntime fp32: int8 (onnxruntime's dynamic and static
quantization) and OpenVINO. Speed on real 1024 px tiles (the variants take turns, 9 rounds, median MP/s) and
masks at the model's threshold against fp32 (IoU over the tiles). Issue 19 adopts a variant only when it is
faster here and its masks keep IoU >= 0.99.

Usage: .venv/bin/python bench/runtimes.py [--rounds 9] [--openvino-path DIR]
(--openvino-path DIR: an OpenVINO installed elsewhere, `pip install --target DIR openvino`; without it, the
venv's OpenVINO (requirements.txt) where installed.)
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.mosaic import mosaic  # noqa: E402
from bench.run import WORK, real_batch  # noqa: E402

MODEL = ROOT / "building_extractor" / "models" / "default_unet.safetensors"


def calibration_reader(images: np.ndarray):
    from onnxruntime.quantization import CalibrationDataReader

    class Tiles(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{"image": image[None]} for image in images])

        def get_next(self):
            return next(self.items, None)

    return Tiles()


def variants(workdir: Path, images: np.ndarray, openvino_path: str | None) -> dict:
    """name -> callable(batch) -> probabilities (n, 1, h, w)."""
    import onnxruntime
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from building_extractor.core.models.builders import load_model
    from building_extractor.core.models.export import export_onnx

    config, model = load_model(str(MODEL))
    fp32 = workdir / "fp32.onnx"
    export_onnx(config, model, fp32, half=False)  # the quantizers want plain float32 initializers
    prepared = workdir / "prepared.onnx"
    quant_pre_process(str(fp32), str(prepared))
    dynamic, static = workdir / "int8_dynamic.onnx", workdir / "int8_static.onnx"
    quantize_dynamic(str(prepared), str(dynamic), weight_type=QuantType.QInt8)
    quantize_static(str(prepared), str(static), calibration_reader(images), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True)
    shipped = ROOT / "building_extractor" / "models" / "default_unet.onnx"

    def session(path: Path):
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        run = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]).run
        return lambda batch: run(None, {"image": batch})[0]

    found = {"onnxruntime fp32 (fp16 storage, shipped)": session(shipped), "onnxruntime fp32": session(fp32),
             "onnxruntime int8 dynamic": session(dynamic),
             "onnxruntime int8 static (QDQ, per channel)": session(static)}
    if openvino_path:
        sys.path.insert(0, openvino_path)
    if importlib.util.find_spec("openvino"):
        import openvino

        core = openvino.Core()
        # OpenVINO's default precision is bf16 where the CPU computes it natively: the speed and the mask
        # differences come from there (BENCHMARKS.md, CPU session 9); f32 is the like-for-like comparison.
        def compiled(precision: str):
            model = core.compile_model(str(fp32), "CPU", {"INFERENCE_PRECISION_HINT": precision})
            return lambda batch: model(batch)[0]

        for precision in ("f32", "bf16"):
            found[f"OpenVINO {openvino.__version__} CPU, {precision}"] = compiled(precision)
    return found, config.threshold


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--openvino-path")
    args = parser.parse_args()
    from building_extractor.core.models.model_file import read_config

    config = read_config(MODEL)
    WORK.mkdir(parents=True, exist_ok=True)
    raster = mosaic(WORK, 4.0)
    images = real_batch(raster, config, 4)  # 4 tiles of 1024 px: 1 to time, all 4 for the masks
    with tempfile.TemporaryDirectory() as tmp:
        runs, threshold = variants(Path(tmp), images[:2], args.openvino_path)
        reference = np.concatenate([runs["onnxruntime fp32"](image[None]) for image in images])[:, 0] >= threshold
        speeds = {name: [] for name in runs}
        for run in runs.values():
            run(images[:1])  # warm-up
        for _ in range(args.rounds):
            for name, run in runs.items():
                started = time.perf_counter()
                run(images[:1])
                speeds[name].append(images.shape[2] * images.shape[3] / (time.perf_counter() - started) / 1e6)
        print("| variant | MP/s (median, min-max) | × fp32 | mask IoU vs fp32 (4 tiles) |")
        print("| --- | --- | --- | --- |")
        base = statistics.median(speeds["onnxruntime fp32"])
        for name, run in runs.items():
            masks = np.concatenate([run(image[None]) for image in images])[:, 0] >= threshold
            iou = (masks & reference).sum() / max((masks | reference).sum(), 1)
            median = statistics.median(speeds[name])
            print(f"| {name} | {median:.3f} ({min(speeds[name]):.3f}-{max(speeds[name]):.3f}) | "
                  f"{median / base:.2f} | {iou:.4f} |")


if __name__ == "__main__":
    main()
