"""DASK_SCHEDULER: an extraction algorithm's job run on a Dask cluster, streamed back into its sink."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from qgis.core import QgsProcessingException

from ..core.errors import BuildingExtractorError
from ..core.models.model_file import read_config, shipped_model_path


def cluster_buildings(raster: str, architecture: str, options: Any, scheduler: str, progress: Any, run: Any,
                      model_given: bool) -> Iterator[Any]:
    """Buildings of ``raster`` from the cluster at ``scheduler``, numbered from 1; fills ``run`` as the core does.

    Without a MODEL the workers use their own copy of the shipped model; probabilities are written by the workers
    as per-partition COGs beside OUTPUT_PROBABILITY and joined into it at the end.
    """
    from ..scale.cluster import ClusterOptions, ClusterRun, iter_cluster_buildings, require_dask

    try:
        require_dask()
    except BuildingExtractorError as exc:
        raise QgsProcessingException(str(exc)) from exc
    model = options.model_path if model_given else shipped_model_path(f"default_{architecture}.safetensors")
    run.config = read_config(model)
    probability = getattr(options, "probability_path", None)
    changes = {"model_path": options.model_path if model_given else ""}
    if probability is not None:
        changes.update(probability_path=None, workdir=None)  # a remote worker has neither path
    cluster_run = ClusterRun()
    run.device = f"the Dask cluster {scheduler}"
    yield from iter_cluster_buildings(raster, architecture, replace(options, **changes),
                                      ClusterOptions(scheduler=scheduler), progress, cluster_run, probability)
    run.building_count = cluster_run.building_count
    run.timings["cluster"] = cluster_run.seconds
