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

from building_extractor.core.models.model_file import average_model_files  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+")
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    average_model_files(args.models, args.output)
    print("wrote", args.output)


if __name__ == "__main__":
    main()
