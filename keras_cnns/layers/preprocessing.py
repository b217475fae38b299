"""`WeightsPreprocessing`: the pixel preprocessing a set of pretrained weights expects,
as a layer, so that a model takes plain pixels in [0, 255] (uint8 or float).

The modes are keras.applications' names (`keras.applications.imagenet_utils`):

- `"caffe"`: RGB -> BGR, then the ImageNet mean (BGR: 103.939, 116.779, 123.68)
  subtracted, no scaling (keras.applications' VGG16/19 and ResNet v1);
- `"tf"`: pixels scaled to [-1, 1] (`x / 127.5 - 1`: InceptionV3, ResNet v2);
- `"torch"`: pixels scaled to [0, 1], then ImageNet's mean (0.485, 0.456, 0.406)
  subtracted and the result divided by its std (0.229, 0.224, 0.225) (keras.applications'
  DenseNet, every torchvision file).

`transform_input=True` adds torchvision's `transform_input` after "torch" (GoogLeNet's
and Inception v3's IMAGENET1K_V1 weights): each channel becomes
`x * std / 0.5 + (mean - 0.5) / 0.5`, as torchvision computes it.
"""

from __future__ import annotations

import keras
from keras import ops

MODES = ("caffe", "tf", "torch")
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # RGB, of pixels in [0, 1]
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)  # of pixels in [0, 255]


def check_mode(mode, argument: str = "mode") -> str:
    """`mode` if it is one of `MODES`, else a ValueError naming `argument`."""
    if mode not in MODES:
        raise ValueError(
            f"Unknown `{argument}`: {mode!r}. Accepted: {', '.join(repr(m) for m in MODES)}."
        )
    return mode


@keras.saving.register_keras_serializable(package="keras_cnns")
class WeightsPreprocessing(keras.layers.Layer):
    """Pixels in [0, 255] -> what pretrained weights expect (`mode`, see the module doc).

    Takes uint8 or float images, channels last; "caffe" and "torch" need 3 (RGB)
    channels, "tf" takes any number. Has no weights, and saves and loads in safe mode
    (`get_config` holds only its arguments).

    Args:
        mode: `"caffe"`, `"tf"` or `"torch"`.
        transform_input: after "torch", torchvision's `transform_input` step.
    """

    def __init__(self, mode: str = "torch", transform_input: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.mode = check_mode(mode)
        if not isinstance(transform_input, bool):
            raise TypeError(f"`transform_input` must be a bool; received {transform_input!r}.")
        if transform_input and mode != "torch":
            raise ValueError(
                f"`transform_input=True` follows 'torch' preprocessing (torchvision's "
                f"step); received mode={mode!r}."
            )
        self.transform_input = transform_input

    def build(self, input_shape):
        channels = input_shape[-1]
        if self.mode != "tf" and channels != 3:
            raise ValueError(
                f"{self.mode!r} preprocessing takes RGB images (3 channels); the input has "
                f"{channels}. Convert grey images to RGB first (keras_cnns.train does, with "
                "its `input_shape`), or use a model trained on your channel count."
            )
        super().build(input_shape)

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if self.mode == "tf":
            return x / 127.5 - 1.0
        if self.mode == "caffe":
            return ops.flip(x, axis=-1) - ops.convert_to_tensor(CAFFE_MEAN_BGR, self.compute_dtype)
        mean = ops.convert_to_tensor(IMAGENET_MEAN, self.compute_dtype)
        std = ops.convert_to_tensor(IMAGENET_STD, self.compute_dtype)
        x = (x / 255.0 - mean) / std
        if self.transform_input:
            x = x * (std / 0.5) + (mean - 0.5) / 0.5
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "transform_input": self.transform_input}
