"""Average the weights of model files fine-tuned from one model (a uniform "model soup", Wortsman et al. 2022).

Averaging a fine-tuned model with the model it started from (WiSE-FT) or with other fine-tunes of it tends to
generalise better to new places than any one of them. The files must share architecture, encoder and tensor
shapes. The description (and thresholds) of the first file is kept; re-tune them on the validation blocks
afterwards:

    .venv/bin/python scripts/average_models.py A.safetensors B.safetensors [...] --output soup.safetensors
    .venv/bin/python scripts/train_default.py --retune --output soup.safetensors
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from building_extractor.core.model_file import load_model_file, save_model_file  # noqa: E402


def average(paths: list[str], output: str) -> None:
    configs, states = zip(*(load_model_file(path) for path in paths))
    first = configs[0]
    for path, config, state in zip(paths[1:], configs[1:], states[1:]):
        if (config.architecture, config.encoder) != (first.architecture, first.encoder) or \
                {k: tuple(v.shape) for k, v in state.items()} != {k: tuple(v.shape) for k, v in states[0].items()}:
            raise SystemExit(f"{path} is not the same network as {paths[0]}; only fine-tunes of one model average.")
    # Counters (BatchNorm's num_batches_tracked) are not weights: the first file's are kept.
    soup = {name: sum(state[name] for state in states) / len(states) if tensor.is_floating_point() else tensor
            for name, tensor in states[0].items()}
    first.description = (first.description + " " if first.description else "") + \
        f"Weights: the average of {len(paths)} models ({', '.join(Path(p).name for p in paths)})."
    save_model_file(output, first, soup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+")
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    if len(args.models) < 2:
        raise SystemExit("Give at least two model files to average.")
    average(args.models, args.output)
    print("wrote", args.output)


if __name__ == "__main__":
    main()
