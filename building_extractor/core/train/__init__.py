"""Training: the U-Net, Mask R-CNN and land-cover trainers and their reports.

Modules: instance_training, landcover_training, training, training_report. Nothing is imported here: importing one
module loads only what it needs (the lean extraction path imports no torch).
"""
