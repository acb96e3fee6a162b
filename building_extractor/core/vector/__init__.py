"""From masks to map-ready buildings: vectorizing, splitting touching roofs, regularizing, heights.

Modules: heights, regularize, spatial_index, split, vectorize. Nothing is imported here: importing one module loads
only what it needs (the lean extraction path imports no torch).
"""
