"""Extraction: tile grids, streamed inference and stitching, the U-Net, Mask R-CNN and land-cover pipelines.

Modules: inference, instances, landcover, pipeline, stitching, tiling, tta. Nothing is imported here: importing one
module loads only what it needs (the lean extraction path imports no torch).
"""
