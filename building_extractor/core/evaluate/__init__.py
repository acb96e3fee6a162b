"""Scores against reference data: building and land-cover metrics, HTML reports.

Modules: landcover_metrics, metrics, report. Nothing is imported here: importing one module loads only what it needs
(the lean extraction path imports no torch).
"""
