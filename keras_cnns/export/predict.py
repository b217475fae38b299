"""Run an exported model on real images: `keras-cnns predict`."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import tensorflow as tf


def _first_images(dataset: str, split: str, count: int, data_dir: str | None):
    from keras_cnns.data import load

    data = load(dataset, split, data_dir=data_dir, validation_fraction=0.1 if split == "validation" else 0.0)
    images, labels = [], []
    for image, label in data.dataset.take(count):
        images.append(image.numpy())
        labels.append(int(label.numpy()))
    return np.stack(images), np.array(labels), list(data.class_names)


def predict_dataset(
    model: str | os.PathLike,
    dataset: str,
    *,
    split: str = "test",
    count: int = 5,
    data_dir: str | None = None,
) -> list[dict]:
    """Classify the first `count` images of `dataset`'s `split` with an export of
    `keras-cnns export`: a `.tflite` file (LiteRT; images padded/resized to its input
    size as pixels) or a SavedModel version folder (its uint8 `serving_default`, which
    takes the images as stored). Returns one row per image: index, true and predicted
    class names, the predicted class's probability.
    """
    from keras_cnns.data.pipeline import convert_channels, fit_size
    from keras_cnns.export.tflite import LiteRTModel

    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"`count` must be a positive integer; received {count!r}.")
    path = Path(model)
    images, labels, class_names = _first_images(dataset, split, count, data_dir)
    if path.suffix == ".tflite":
        runner = LiteRTModel(path)
        height, width, channels = runner.input_shape
        pixels = fit_size(convert_channels(tf.cast(images, tf.float32), channels), height, width)
        probabilities = runner.predict(pixels.numpy())
        names = runner.class_names or class_names
    elif (path / "saved_model.pb").is_file():
        signature = tf.saved_model.load(str(path)).signatures["serving_default"]
        answer = signature(images=tf.constant(images))
        probabilities = answer["probabilities"].numpy()
        names = class_names
    else:
        raise FileNotFoundError(
            f"`model` {str(path)!r} is neither a .tflite file nor a SavedModel version folder "
            "(<base>/<version>/saved_model.pb), as `keras-cnns export` writes them."
        )
    predicted = probabilities.argmax(axis=-1)
    return [
        {
            "index": i,
            "true": class_names[labels[i]],
            "predicted": names[predicted[i]],
            "probability": float(probabilities[i, predicted[i]]),
        }
        for i in range(len(labels))
    ]
