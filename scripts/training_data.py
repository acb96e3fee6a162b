"""The building data in ../shared/data by place, for train_default.py and compare_models.py.

Each place lists its rasters and footprints, its share of training chips and whether its footprints keep
touching buildings apart. Rio's and Dubai's footprints were vectorized from masks (touching buildings merged;
Dubai's blocks of villas drawn as one area, on a nominal 1 m grid), so they teach pixels only: no Mask R-CNN
targets and no validation blocks come from them (core.train.training.TrainingSource.separate_buildings), and Dubai,
the coarsest, gets a small share. See each folder's SOURCE.md.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from building_extractor.core.train.training import TrainingSource  # noqa: E402

DATA = ROOT.parent / "shared" / "data"


@dataclass(frozen=True)
class Place:
    rasters: tuple[str, ...]  # relative to the place's folder
    share: float | None = None  # of all training chips; None: in proportion to area with the others
    separate_buildings: bool = True
    sensor: str = "drone"


PLACES = {
    "banepa": Place(("train.tif",)),
    "zanzibar": Place(("image_1.tif", "image_2.tif")),
    "kampala": Place(("image_1.tif", "image_2.tif")),
    "banepa_east": Place(("image_1.tif", "image_2.tif")),
    "rio": Place(("image_1.tif", "image_2.tif"), share=0.2, separate_buildings=False, sensor="satellite"),
    "dubai": Place(tuple(f"tile{n}.tif" for n in (1, 3, 4, 5, 7, 8)), share=0.05, separate_buildings=False,
                   sensor="satellite"),
}
# The shipped models' recipe (Kampala held out for their model cards).
DRONE = ("banepa", "zanzibar")
ALL = ("banepa", "zanzibar", "banepa_east", "rio", "dubai")
# Cities held out in turn for leave-one-city-out scores; Banepa east is the same town as Banepa (held out with it).
HELD_OUT_CITIES = {"banepa": ("banepa", "banepa_east"), "zanzibar": ("zanzibar",), "kampala": ("kampala",),
                   "rio": ("rio",)}
# Imagery the evaluation scores, per city: labelled rasters never trained on when the city is held out.
EVALUATION_IMAGES = {"banepa": ("banepa_east/image_1.tif", "banepa_east/image_2.tif"),
                     "zanzibar": ("zanzibar/image_1.tif", "zanzibar/image_2.tif"),
                     "kampala": ("kampala/image_1.tif", "kampala/image_2.tif"),
                     "rio": ("rio/image_1.tif", "rio/image_2.tif")}


def sources(places: tuple[str, ...] | list[str], data: Path = DATA, exclude: tuple[str, ...] = ()
            ) -> list[TrainingSource]:
    """TrainingSources of ``places`` (keys of PLACES) less ``exclude``; a place's share is split over its rasters
    in proportion to their pixel counts."""
    from osgeo import gdal

    result = []
    for name in places:
        if name in exclude:
            continue
        place = PLACES[name]
        paths = [data / name / raster for raster in place.rasters]
        sizes = []
        for path in paths:
            dataset = gdal.Open(str(path))
            sizes.append(dataset.RasterXSize * dataset.RasterYSize)
            dataset = None
        for path, size in zip(paths, sizes):
            share = None if place.share is None else place.share * size / sum(sizes)
            result.append(TrainingSource(str(path), str(data / name / "buildings.geojson"),
                                         name=f"{name}_{path.stem}", share=share,
                                         separate_buildings=place.separate_buildings))
    return result


OPENAERIALMAP = "OpenAerialMap imagery (CC-BY-4.0, via the hotosm/fAIr-utilities sample data)"
ATTRIBUTIONS = {
    "banepa": "Banepa: OpenAerialMap image 62d85d11d8499800053796c1 (CC-BY-4.0)",
    "zanzibar": f"Zanzibar: {OPENAERIALMAP}",
    "kampala": f"Kampala: {OPENAERIALMAP}",
    "banepa_east": f"Banepa east: {OPENAERIALMAP}",
    "rio": "Rio de Janeiro: SpaceNet 1 imagery and footprints (SpaceNet, CosmiQ Works / Maxar), CC BY-SA 4.0",
    "dubai": "Dubai: Humans in the Loop, 'Semantic segmentation of aerial imagery' (MBRSC imagery), CC0 1.0",
}
OSM_LABELLED = ("banepa", "zanzibar", "kampala", "banepa_east")


def attribution(places: tuple[str, ...] | list[str]) -> str:
    """The attribution line a model trained on ``places`` carries (NOTICE lists the licences in full)."""
    text = "Trained on: " + "; ".join(ATTRIBUTIONS[p] for p in places) + "."
    if any(p in OSM_LABELLED for p in places):
        text += " Building footprints of the drone imagery (c) OpenStreetMap contributors (ODbL)."
    return text
