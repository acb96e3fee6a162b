"""Make help/images/building_heights_lod1.png: building heights and LOD1 blocks on Kampala imagery.

No real height model ships with the project, so the heights are SYNTHETIC: the real OpenStreetMap footprints
inside ../shared/data/kampala/image_2.tif (clipped to it) get a made-up nDSM on the image's own grid (ground
0 m with gentle smooth noise, each building a flat or a two-level roof between 3 and 12 m, roofs with a few
centimetres of noise). The core then does the real work: ``building_heights`` samples that nDSM per
footprint (0.3 m inward buffer) and ``cityjson_lod1`` exports the LOD1 blocks, which the 3D panel draws
straight from the CityJSON document.

Usage::

    .venv/bin/python scripts/make_heights_figure.py [--output help/images/building_heights_lod1.png]
        [--workdir DIR]   # keep ndsm.tif, footprints.gpkg and buildings.city.json there

The files in ``--workdir`` are inputs for ``bin/qgis_process run building_extractor:building_heights``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from building_extractor.core.vector.heights import building_heights, cityjson_lod1

warnings.filterwarnings("ignore", message="Valid PROJ data directory not found")
KAMPALA = ROOT.parent / "shared" / "data" / "kampala"
BUFFER = 0.3  # metres, inward buffer against wall pixels
MIN_AREA = 4.0  # m², smaller clipped pieces are dropped
CMAP = "viridis"


def read_footprints(image: Path, labels: Path) -> tuple[list, object, tuple]:
    """Footprints intersecting the image, clipped to it, in the image's CRS; and the image's transform/shape."""
    import fiona
    import rasterio
    from pyproj import Transformer
    from shapely.geometry import box, shape
    from shapely.ops import transform

    with rasterio.open(image) as src:
        crs, grid, extent = src.crs, (src.transform, src.shape), box(*src.bounds)
    to_image = Transformer.from_crs("EPSG:4326", crs.to_string(), always_xy=True).transform
    with fiona.open(labels) as source:
        geoms = [transform(to_image, shape(f["geometry"])) for f in source if f["geometry"]]
    clipped = [g.intersection(extent) for g in geoms if g.intersects(extent)]
    polygons = []
    for g in clipped:
        parts = [p for p in getattr(g, "geoms", [g]) if p.geom_type == "Polygon" and p.area >= MIN_AREA]
        polygons.extend(parts)
    return polygons, crs, grid


def two_levels(polygon, rng: np.random.Generator) -> list:
    """``polygon`` cut in two across the long axis of its minimum rotated rectangle."""
    from shapely.affinity import rotate
    from shapely.geometry import LineString, box

    corners = list(polygon.minimum_rotated_rectangle.exterior.coords)[:4]
    edges = [(corners[i], corners[(i + 1) % 4]) for i in range(2)]
    (x0, y0), (x1, y1) = max(edges, key=lambda e: LineString(e).length)
    angle = np.degrees(np.arctan2(y1 - y0, x1 - x0))
    cx, cy = polygon.centroid.x, polygon.centroid.y
    cut = cx + rng.uniform(-0.2, 0.2) * LineString(((x0, y0), (x1, y1))).length
    size = 10 * (polygon.length + 1)
    half = rotate(box(cut, cy - size, cx + size, cy + size), angle, origin=(cx, cy))
    return [polygon.intersection(half), polygon.difference(half)]


def synthetic_ndsm(polygons: list, grid: tuple, rng: np.random.Generator) -> tuple[np.ndarray, list[float]]:
    """nDSM on the image grid and the (upper) roof height of each building."""
    from rasterio.features import rasterize
    from scipy import ndimage

    transform, shape = grid
    ground = ndimage.gaussian_filter(rng.normal(size=shape), sigma=25)
    ndsm = 0.15 * ground / np.abs(ground).max()  # gentle, ±0.15 m
    roofs, shapes = [], []
    for polygon in polygons:
        top = float(rng.uniform(3.0, 12.0))
        roofs.append(top)
        if polygon.area > 40 and rng.random() < 0.4:
            high, low = two_levels(polygon, rng)
            shapes += [(low, max(2.5, top - rng.uniform(2.5, 4.0))), (high, top)]
        else:
            shapes.append((polygon, top))
    roof = rasterize(shapes, out_shape=shape, transform=transform, fill=np.nan, dtype="float64")
    inside = np.isfinite(roof)
    ndsm[inside] = roof[inside] + rng.normal(scale=0.03, size=int(inside.sum()))
    return ndsm.astype("float32"), roofs


def write_inputs(workdir: Path, ndsm: np.ndarray, polygons: list, roofs: list[float], crs, grid) -> Path:
    """ndsm.tif and footprints.gpkg (field roof_synthetic) in ``workdir``; returns the nDSM path."""
    import fiona
    import rasterio
    from shapely.geometry import mapping

    transform, shape = grid
    path = workdir / "ndsm.tif"
    profile = {"driver": "GTiff", "width": shape[1], "height": shape[0], "count": 1, "dtype": "float32",
               "crs": crs, "transform": transform, "nodata": -9999.0, "compress": "deflate"}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(ndsm, 1)
    schema = {"geometry": "Polygon", "properties": {"id": "int", "roof_synthetic": "float"}}
    with fiona.open(workdir / "footprints.gpkg", "w", driver="GPKG", crs=crs.to_string(), schema=schema) as out:
        for index, (polygon, roof) in enumerate(zip(polygons, roofs)):
            out.write({"geometry": mapping(polygon), "properties": {"id": index, "roof_synthetic": round(roof, 2)}})
    return path


def solids(document: dict) -> list[tuple[float, list[np.ndarray]]]:
    """(roof height, surfaces as exterior-ring vertex arrays) of each LOD1 Solid of a CityJSON document."""
    scale, translate = (np.asarray(document["transform"][k]) for k in ("scale", "translate"))
    vertices = np.asarray(document["vertices"]) * scale + translate
    out = []
    for item in document["CityObjects"].values():
        shell = item["geometry"][0]["boundaries"][0]
        out.append((item["attributes"]["height"], [vertices[surface[0]] for surface in shell]))
    return out


def plot(path: Path, image: np.ndarray, grid: tuple, polygons: list, medians: list, ndsm: np.ndarray,
         document: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LightSource, Normalize
    from matplotlib.patches import Polygon as Patch
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    transform, (rows, cols) = grid
    left, top = transform.c, transform.f
    right, bottom = left + cols * transform.a, top + rows * transform.e
    extent = (0.0, right - left, 0.0, top - bottom)  # metres from the lower-left corner
    norm, cmap = Normalize(0, 12), plt.get_cmap(CMAP)

    fig = plt.figure(figsize=(17, 6.4))
    ax1 = fig.add_axes((0.01, 0.17, 0.28, 0.75))
    ax2 = fig.add_axes((0.31, 0.17, 0.28, 0.75))
    ax3 = fig.add_axes((0.59, 0.06, 0.40, 0.9), projection="3d", computed_zorder=False)

    ax1.imshow(image, extent=extent)
    for polygon, median in zip(polygons, medians):
        xy = np.asarray(polygon.exterior.coords) - (left, bottom)
        colour = "none" if median is None else cmap(norm(median))
        ax1.add_patch(Patch(xy, facecolor=colour, alpha=0.55, edgecolor="white", linewidth=0.8))
    ax1.set_title("(a) Kampala footprints coloured by height_median")
    ax2.imshow(ndsm, extent=extent, cmap=CMAP, norm=norm)
    ax2.set_title("(b) The synthetic nDSM (made up: no real height model ships)")
    for ax in (ax1, ax2):
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
        ax.set_xticks([])
        ax.set_yticks([])
    bar = fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), cax=fig.add_axes((0.08, 0.125, 0.45, 0.025)),
                       orientation="horizontal")
    bar.set_label("height above ground (m)")

    step = 4  # imagery as the ground plane, every 4th pixel (0.6 m)
    ground = image[::step, ::step] / 255.0
    gy, gx = np.mgrid[0:ground.shape[0], 0:ground.shape[1]] * (step * transform.a)
    ax3.plot_surface(gx, extent[3] - gy, np.zeros_like(gx), facecolors=ground, rstride=1, cstride=1,
                     linewidth=0, antialiased=False, shade=False, zorder=0)
    light = LightSource(azdeg=315, altdeg=45)
    faces, colours = [], []
    for height, surfaces in solids(document):
        for surface in surfaces:
            xyz = surface - (left, bottom, 0.0)
            normal = np.cross(xyz[1] - xyz[0], xyz[2] - xyz[0])
            normal = normal / (np.linalg.norm(normal) or 1.0)
            shade = 0.45 + 0.55 * max(0.0, float(np.dot(normal, light.direction)))
            colour = np.asarray(cmap(norm(height)))
            colour[:3] *= shade
            faces.append(xyz)
            colours.append(colour)
    ax3.add_collection3d(Poly3DCollection(faces, facecolors=colours, edgecolors=(0, 0, 0, 0.25),
                                          linewidths=0.3, zorder=1))
    ax3.set_xlim(extent[0], extent[1])
    ax3.set_ylim(extent[2], extent[3])
    ax3.set_zlim(0, 14)
    ax3.set_zticks([0, 6, 12])
    ax3.set_box_aspect((extent[1], extent[3], 14), zoom=0.95)  # true scale
    ax3.view_init(elev=32, azim=-60)
    ax3.set_xlabel("x (m)")
    ax3.set_ylabel("y (m)")
    ax3.set_zlabel("z (m)")
    ax3.set_title("(c) LOD1 blocks from the CityJSON export (true scale)", y=0.9)
    fig.text(0.5, 0.012, "Heights are SYNTHETIC (a made-up nDSM; no real height model ships). Kampala imagery: "
             "OpenAerialMap, CC-BY 4.0; footprints © OpenStreetMap contributors, ODbL.", ha="center", fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    print(f"figure written to {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=ROOT / "help" / "images" / "building_heights_lod1.png")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    import rasterio

    rng = np.random.default_rng(args.seed)
    image_path = KAMPALA / "image_2.tif"
    polygons, crs, grid = read_footprints(image_path, KAMPALA / "buildings.geojson")
    ndsm, roofs = synthetic_ndsm(polygons, grid, rng)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        ndsm_path = write_inputs(workdir, ndsm, polygons, roofs, crs, grid)
        inner = [p.buffer(-BUFFER) for p in polygons]
        stats = building_heights(polygons, str(ndsm_path), inner=inner)
        items = [(str(i), p, 0.0, s.height_median, {"height": s.height_median, "height_max": s.height_max})
                 for i, (p, s) in enumerate(zip(polygons, stats)) if s.pixel_count]
        document = cityjson_lod1(items, crs.to_epsg())
        (workdir / "buildings.city.json").write_text(json.dumps(document), encoding="utf-8")
        with rasterio.open(image_path) as src:
            image = np.moveaxis(src.read([1, 2, 3]), 0, -1)
    medians = [s.height_median for s in stats]
    flat = [abs(s.height_median - r) for s, r in zip(stats, roofs) if s.pixel_count and s.height_min > r - 1]
    print(f"{len(polygons)} footprints, {len(items)} with heights, {len(document['CityObjects'])} LOD1 solids; "
          f"flat roofs: height_median within {max(flat):.3f} m of the synthetic roof ({len(flat)} buildings)")
    plot(args.output, image, grid, polygons, medians, ndsm, document)


if __name__ == "__main__":
    main()
