"""Evaluation: a run, a saved model or pretrained weights measured on a data set, and
ImageNet's class names.

    result = keras_cnns.evaluate("runs/lenet5-fashion_mnist-<time>")          # its test split
    result = keras_cnns.evaluate("resnet18", "imagenet2012", weights="torchvision",
                                 split="validation")
    keras_cnns.decode_predictions(model.predict(images), top=5)

One module per job: `evaluator` (`evaluate`: what is evaluated, the predictions),
`transform` (how images become inputs: the standard resize-and-crop of pretrained
weights, a run's own preprocessing), `metrics` (top-k, confusion matrix, per class),
`report` (`EvaluationResult`, the PNG and the JSON), `imagenet` (`decode_predictions`;
where the class index comes from: `keras_cnns.evaluation.imagenet.CLASS_INDEX_URL`).
"""

from keras_cnns.evaluation.evaluator import DEFAULT_OUTPUT_DIR, evaluate
from keras_cnns.evaluation.imagenet import decode_predictions, imagenet_class_index
from keras_cnns.evaluation.metrics import (
    confusion_matrix,
    per_class_accuracy,
    top_classes,
    top_k_accuracy,
)
from keras_cnns.evaluation.report import EvaluationResult, plot_confusion_matrix
from keras_cnns.data.crops import RESIZE_RATIO, center_crop, resize_shorter_side, resize_size
from keras_cnns.evaluation.transform import pretrained_transform, trained_transform

__all__ = [
    "DEFAULT_OUTPUT_DIR",
    "EvaluationResult",
    "RESIZE_RATIO",
    "center_crop",
    "confusion_matrix",
    "decode_predictions",
    "evaluate",
    "imagenet_class_index",
    "per_class_accuracy",
    "plot_confusion_matrix",
    "pretrained_transform",
    "resize_shorter_side",
    "resize_size",
    "top_classes",
    "top_k_accuracy",
    "trained_transform",
]
