"""``python -m building_extractor extract INPUT OUTPUT [options]`` (see :mod:`building_extractor.cli`)."""

import sys

from building_extractor.cli import main

if __name__ == "__main__":
    sys.exit(main())
