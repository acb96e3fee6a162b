"""Short help of every algorithm, keyed by algorithm id (one place; full pages live in help/)."""

HELP_TEXTS = {
    "extract_buildings_unet": (
        "Extracts building footprints from an RGB aerial or satellite image with a U-Net. The image is read "
        "tile by tile at the model's ground resolution, overlapping tiles are blended without seams, and the "
        "stitched building mask is turned into clean polygons with a confidence (mean probability), "
        "max_probability, area_m2 and perimeter_m.\n\n"
        "Leave Model empty to use the default model shipped with the plugin. Resolution 0 processes the "
        "image at its native pixel size. Runs on the GPU when torch sees one (Device = auto)."
    ),
    "extract_buildings_maskrcnn": (
        "Extracts one polygon per building instance with Mask R-CNN, so that touching buildings stay "
        "separate. Not available yet in this version: use Extract buildings (U-Net)."
    ),
    "train_model": (
        "Trains a building U-Net, or fine-tunes an existing model (Start from model), on your own rasters and "
        "building footprints (any CRS). Chips are read at the training resolution with footprints rasterized on "
        "the fly; outside the optional labelled area pixels are ignored. Validation uses the validation "
        "raster/footprints pair, else a fraction of each raster held out as spatial blocks.\n\n"
        "The best epoch by validation IoU is kept, training stops early when it stops improving or when the time "
        "budget is used, and the threshold is tuned on validation. Writes a self-describing .safetensors model "
        "file for Extract buildings (U-Net) and optionally an HTML report with loss and IoU curves. When "
        "cancelled, the best model so far is written if an epoch finished and Keep best is on."
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
}
