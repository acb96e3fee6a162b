"""Reading rasters and vectors: the processing grid, second rasters aligned on it, labels, extra inputs, AREA.

Modules: aligned_raster, area, extra_inputs, labels, raster_source. Nothing is imported here: importing one module
loads only what it needs (the lean extraction path imports no torch).
"""
