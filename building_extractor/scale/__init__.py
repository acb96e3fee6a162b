"""Scale-out of building extraction on Dask: partitions with a halo, buildings once each, resumable runs.

This package sits above ``building_extractor.core`` (which never imports it) and needs ``dask`` and
``distributed`` only when a cluster is used. The task function is :func:`.partitions.run_partition`, a pure
core call with picklable arguments.
"""
