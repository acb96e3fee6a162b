"""Makes the packages named in BUILDING_EXTRACTOR_BLOCK unimportable in this Python (tests of the lean path).

Put this folder first on PYTHONPATH: Python imports ``sitecustomize`` at start-up, before QGIS loads any plugin.
Each blocked name is set to None in ``sys.modules``, so ``import name`` (and of any submodule) raises
ImportError whoever tries it: a run that succeeds did not need the package.
"""

import os
import sys

for _name in os.environ.get("BUILDING_EXTRACTOR_BLOCK", "").split(","):
    if _name:
        sys.modules[_name] = None
