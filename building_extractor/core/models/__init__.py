"""Networks and model files: builders, safetensors and ONNX files, inference backends, devices.

Modules: backends, builders, choices, devices, maskrcnn, model_file, onnx_model, plinknet, torch_cache. Nothing is
imported here: importing one module loads only what it needs (the lean extraction path imports no torch).
"""
