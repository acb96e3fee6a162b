"""Short help of every algorithm, keyed by algorithm id (one place; full pages live in help/)."""

HELP_TEXTS = {
    "diagnostics": (
        "Reports what a bug report needs: the QGIS, Python and plugin versions, each runtime package's version "
        "(or that it is missing), the devices found (CPU, CUDA, Apple GPU), which algorithms can run, the "
        "provider settings and the model files (shipped and in the models folder). Copy the log, or save the "
        "report as a text file, and attach it to the report."
    ),
    "extract_buildings_unet": (
        "Extracts building footprints from an RGB aerial or satellite image with a U-Net. The image is read "
        "tile by tile at the model's ground resolution, overlapping tiles are blended without seams, and the "
        "stitched building mask is turned into clean polygons with a confidence (mean probability), "
        "max_probability, area_m2 and perimeter_m. Touching roofs are split where a blob holds several cores "
        "of high probability (advanced Split threshold; 0 keeps each connected blob whole).\n\n"
        "Leave Model empty to use the default model shipped with the plugin. Resolution 0 processes the "
        "image at its native pixel size. Runs on the GPU when torch sees one (Device = auto).\n\n"
        "Any raster layer QGIS shows works, also XYZ and WMS/WMTS basemaps: set Extent to the area to process "
        "(required for XYZ layers; at most 25 km² unless the advanced largest area is raised). Windows that "
        "fail to download are retried, then reported.\n\n"
        "With a land cover model (several classes, e.g. models/landcover_dubai.safetensors) the Land cover output "
        "is a paletted raster holding each pixel's class value with the class names, Land cover polygons one "
        "polygon per class region with a class field (simplified with the same tolerance, smaller than the "
        "minimum area dropped), and the buildings are the pixels whose most likely class is building."
    ),
    "extract_buildings_maskrcnn": (
        "Extracts one polygon per building with Mask R-CNN, so that touching roofs stay separate buildings. "
        "Each polygon has confidence (detection score), mask_confidence (mean mask probability), area_m2 and "
        "perimeter_m.\n\n"
        "Reads like Extract buildings (U-Net): at the model's resolution, tile by tile, any raster layer, "
        "masks and nodata respected. Tiles overlap; each building is reported once: a tile keeps the buildings "
        "centred in its own part, pieces cut by a tile edge are merged with the rest of the building, and "
        "duplicates (polygon IoU above NMS IoU, or over half inside a better one) are dropped; buildings never "
        "overlap (the better-scored one keeps the shared part). Leave Model "
        "empty for the default instance model shipped with the plugin. Lower the score threshold to find more "
        "buildings, raise it for fewer false ones."
    ),
    "train_model": (
        "Trains a building U-Net or Mask R-CNN (Architecture), or fine-tunes an existing model (Start from "
        "model), on your own rasters and building footprints (any CRS). Chips are read at the training "
        "resolution with footprints rasterized on the fly; outside the optional labelled area pixels are "
        "ignored. Validation uses the validation raster/footprints pair, else a fraction of each raster held out "
        "as spatial blocks. A U-Net file given to a Mask R-CNN run initialises its encoder.\n\n"
        "The best epoch by validation IoU (Mask R-CNN: building F1) is kept, training stops early when it stops "
        "improving or when the time budget is used, and the threshold (Mask R-CNN: detection score) is tuned on "
        "validation. Writes a self-describing .safetensors model file for the matching Extract buildings "
        "algorithm and optionally an HTML report with loss and IoU curves. When cancelled, the best model so far "
        "is written if an epoch finished and Keep best is on.\n\n"
        "Land cover: list the classes in Classes (value=name[:#colour], e.g. 1=building, 2=land, 3=road) and give "
        "a class raster per training raster (same order; its nodata is ignored), or one polygon layer per class. "
        "The model then has one output per class (cross-entropy + Dice, best epoch by validation mean IoU); its "
        "file lists the classes, values and colours, and Extract buildings (U-Net) writes its Land cover outputs."
    ),
    "export_model": (
        "Converts a .safetensors model file (written by Train model) into a self-describing ONNX file that "
        "onnxruntime runs without torch: the fast default backend of both Extract buildings algorithms. The "
        "model's description (architecture, bands, normalisation, resolution, tile size, thresholds, classes, "
        "provenance and metrics) is stored in the ONNX file's metadata, with the keys Deepness reads for U-Nets. "
        "Weights are stored as float16 by default (as in the safetensors file: nothing is lost) and computed in "
        "float32. Needs torch and onnx; Train model writes the ONNX file itself when onnx is installed."
    ),
    "evaluate_buildings": (
        "Compares predicted building polygons with reference footprints, in metres whatever the layers' CRSs.\n\n"
        "Pixel metrics (accuracy, IoU, precision, recall, F1) rasterize both layers at Pixel size over the "
        "evaluation area: the Area polygons, else the Extent, else both layers' extent. Building metrics "
        "(precision, recall, F1) match buildings one to one by descending IoU and count a match at IoU >= 0.5 "
        "(SpaceNet rule), or at each of the IoU thresholds given. Buildings crossing the area's border are "
        "scored on their part inside.\n\n"
        "Writes a layer of predicted and reference buildings marked TP, FP or FN (with the IoU and matched id), "
        "and optionally the metrics as JSON and an HTML report."
    ),
    "evaluate_landcover": (
        "Scores a classified raster (Extract buildings' Land cover output) against a reference class raster: "
        "per-class IoU, precision, recall and F1, mean IoU, overall accuracy and the confusion matrix (rows: "
        "reference, columns: predicted). The classified raster is aligned on the reference's grid (nearest "
        "neighbour, any CRS); reference nodata and values that are no class are not scored. The classes come "
        "from the classified raster itself, or from the model file given.\n\n"
        "Writes the scores as JSON and an HTML report; mean IoU, overall accuracy and mean F1 are also output "
        "values (for models and batch runs)."
    ),
    "regularize_buildings": (
        "Turns wobbly building outlines (model output, digitising) into map-ready footprints (LOD0) with "
        "straight walls: right angles, right angles and 45° diagonals, any angle, or circles (a circle is "
        "chosen automatically where it fits better). Each building gets its dominant orientation from its "
        "own edges; tolerance is in metres (geographic layers are processed in their UTM zone); courtyards "
        "larger than the hole threshold are kept.\n\n"
        "Never worse than the input: a regularized shape is kept only when its IoU with the input polygon "
        "is at least the threshold (default 0.8), otherwise the simplified input is written; the fields "
        "regularized (1/0), reg_method and reg_iou say which. Outputs are valid and neighbouring buildings "
        "never overlap (larger buildings are placed first)."
    ),
    "building_heights": (
        "Adds height statistics to building footprints from a height model: height_min, height_max, "
        "height_mean, height_median, height_p90 and pixel_count of the pixels whose centre lies inside each "
        "footprint (optionally shrunk by an inward buffer to skip wall edges). Give a normalized height "
        "model (nDSM), or a DSM plus a DTM (height = DSM - DTM; the field ground holds the terrain height). "
        "The raster is read building by building, so large rasters are fine; nodata and buildings partly "
        "outside the raster are handled (no valid pixel: empty statistics).\n\n"
        "Optional outputs: LOD1 blocks as a MultiPolygonZ layer (floor, walls and flat roof at the chosen "
        "roof statistic) for QGIS's 3D view, and a CityJSON LOD1 file for digital-twin tools."
    ),
    "install_dependencies": (
        "Installs what the extraction algorithms need (onnxruntime and a few small packages, pinned versions) "
        "into a folder of the plugin's own in your QGIS profile, with QGIS's own Python and pip: no "
        "administrator rights, nothing of QGIS replaced (never numpy or GDAL). Works where the system refuses "
        "pip installs (Debian 12, Ubuntu 23.04+). Restart QGIS afterwards if an algorithm still reports the "
        "packages missing.\n\n"
        "Offline: download the wheel files on another computer (pip download --only-binary=:all: --no-deps "
        "onnxruntime==1.31.1 affine==2.4.0, for the target's Python version and system) and give their folder "
        "as Folder of wheel files. Training set: also installs torch and the training packages (several GB; on "
        "Linux PyPI's torch is the CUDA build, see the help page for CPU-only builds). Uninstall removes the "
        "folder again."
    ),
}
