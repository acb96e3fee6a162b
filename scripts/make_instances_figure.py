"""Make help/images/maskrcnn_vs_unet.jpg: the shipped U-Net and Mask R-CNN on held-out Kampala imagery.

Both shipped models run through the core pipelines on ../shared/data/kampala/image_2.tif (a dense block of
attached roofs the models never trained on); the OSM footprints are drawn for reference. Each polygon gets
its own colour, so merged blobs and separate instances are easy to tell apart.

Usage::

    .venv/bin/python scripts/make_instances_figure.py [--image PATH] [--output help/images/maskrcnn_vs_unet.jpg]
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from building_extractor.core.extract.instances import InstanceOptions, extract_instances  # noqa: E402
from building_extractor.core.extract.pipeline import ExtractionOptions, extract_buildings  # noqa: E402
from building_extractor.core.io.labels import read_polygons  # noqa: E402

warnings.filterwarnings("ignore", message="Valid PROJ data directory not found")
MODELS = ROOT / "building_extractor" / "models"
KAMPALA = ROOT.parent / "shared" / "data" / "kampala"


def draw(axes, image, extent, polygons, title: str, rng: np.random.Generator) -> None:
    axes.imshow(image, extent=extent)
    for polygon in polygons:
        for part in getattr(polygon, "geoms", [polygon]):
            x, y = part.exterior.xy
            colour = rng.uniform(0.2, 1.0, 3)
            axes.fill(x, y, color=colour, alpha=0.35, linewidth=0)
            axes.plot(x, y, color=colour, linewidth=1.2)
    axes.set_title(title)
    axes.set_axis_off()


def main() -> None:
    import rasterio
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from shapely import wkb

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--image", default=str(KAMPALA / "image_2.tif"))
    parser.add_argument("--output", default=str(ROOT / "help" / "images" / "maskrcnn_vs_unet.jpg"))
    args = parser.parse_args()
    with rasterio.open(args.image) as src:
        image = np.moveaxis(src.read([1, 2, 3]), 0, -1)
        left, bottom, right, top = src.bounds
        crs = src.crs.to_wkt()
    extent = (left, right, bottom, top)
    unet = [wkb.loads(b.wkb) for b in extract_buildings(args.image, ExtractionOptions(str(MODELS / "default_unet"
                                                                                              ".safetensors")))]
    instances = [wkb.loads(b.wkb) for b in extract_instances(args.image, InstanceOptions(
        str(MODELS / "default_maskrcnn.safetensors")))]
    reference = read_polygons(str(KAMPALA / "buildings.geojson"), crs, (left, bottom, right, top))
    figure = Figure(figsize=(15, 5.4), dpi=100)
    FigureCanvasAgg(figure)
    panels = figure.subplots(1, 3)
    draw(panels[0], image, extent, reference, f"OSM footprints ({len(reference)})", np.random.default_rng(1))
    draw(panels[1], image, extent, unet, f"U-Net: {len(unet)} polygons", np.random.default_rng(2))
    draw(panels[2], image, extent, instances, f"Mask R-CNN: {len(instances)} buildings", np.random.default_rng(3))
    for axes in panels:
        axes.set_xlim(left, right)
        axes.set_ylim(bottom, top)
    figure.suptitle("Held-out Kampala (image_2): attached roofs as blobs (U-Net) and as buildings (Mask R-CNN)")
    figure.tight_layout()
    figure.savefig(args.output)
    print("wrote", args.output, "| reference", len(reference), "| unet", len(unet), "| maskrcnn", len(instances))


if __name__ == "__main__":
    main()
