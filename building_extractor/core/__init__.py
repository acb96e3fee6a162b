"""QGIS-free core of building_extractor, grouped by stage.

- ``io``: reading rasters (the processing grid), aligned second rasters, labels, extra inputs, AREA;
- ``models``: network builders, model files (safetensors, ONNX), inference backends, devices;
- ``extract``: tile grids, streamed inference and stitching, the U-Net, Mask R-CNN and land-cover pipelines;
- ``vector``: vectorizing, splitting touching roofs, regularizing (LOD0), heights (LOD1);
- ``train`` and ``evaluate``: the trainers, the metrics and reports;
- beside them, shared by all: ``errors``, ``progress``, ``workers``, ``memory``, ``files``, ``gdal_scope``, and the
  runtime housekeeping ``dependencies``, ``installer``, ``diagnostics``.

Nothing in this package imports QGIS; the Processing algorithms in ``building_extractor.processing`` are
thin adapters onto it. Heavy optional dependencies (torch, smp) are imported lazily by the modules that
need them, so ``building_extractor.core.dependencies`` can report what is missing.
"""
