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
        "Trains or fine-tunes a building model from your own imagery and building footprints, validating on "
        "held-out spatial blocks (or a separate raster), and writes a self-describing .safetensors model file "
        "plus an HTML report with the training curves."
    ),
    "evaluate_buildings": (
        "Compares predicted building polygons with reference footprints: pixel accuracy, IoU, precision, "
        "recall and F1, and building-level precision, recall and F1 with one-to-one matching at IoU >= 0.5. "
        "Writes a JSON/HTML report and a layer marking each building TP, FP or FN."
    ),
}
