"""Exports for production: SavedModel in TF Serving's layout, and TFLite / LiteRT.

    keras_cnns.export.saved_model(model, "saved_models/lenet5")      # -> saved_models/lenet5/1
    keras_cnns.export.tflite(model, "saved_models/lenet5.tflite", quantization="int8",
                             representative_data=images)
    keras_cnns.export.export_run("runs/lenet5-...", formats=("saved_model", "tflite"))
"""

from keras_cnns.export.preprocessing import Preprocessing
from keras_cnns.export.run import export_run
from keras_cnns.export.saved_model import (
    SIGNATURES,
    SavedModelExport,
    check_images,
    existing_versions,
    saved_model,
    write_models_config,
    write_warmup_requests,
)
from keras_cnns.export.source import ExportSource, inference_model, load_source, representative_images
from keras_cnns.export.tflite import IO_DTYPES, QUANTIZATIONS, LiteRTModel, tflite

__all__ = [
    "ExportSource",
    "IO_DTYPES",
    "LiteRTModel",
    "Preprocessing",
    "QUANTIZATIONS",
    "SIGNATURES",
    "SavedModelExport",
    "check_images",
    "existing_versions",
    "export_run",
    "inference_model",
    "load_source",
    "representative_images",
    "saved_model",
    "tflite",
    "write_models_config",
    "write_warmup_requests",
]
