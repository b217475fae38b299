"""Published weights: where each file lives, how it is checked, what it expects.

A model's registry entry (`ModelSpec.weights`) maps each published name to a
`PretrainedWeights`:

- `"imagenet"`: keras.applications' files (Keras' legacy `.h5`, checked against their full
  md5/sha256 hash), written in each family file as keras.applications publishes them;
- `"torchvision"`: torchvision's IMAGENET1K_V1 `state_dict` for the architecture, from
  `TORCHVISION_URLS` below (`torchvision_weights("resnet18")`: one line per model in its
  family's registration). torchvision's file names end in `-<first hex digits of the
  file's sha256>.pth`; that prefix is the entry's `top_hash`. The file is converted once,
  through the family's checkpoint map, into a Keras `.weights.h5` kept beside it
  (`keras_cnns.weights.download`).

Each entry names its preprocessing (`PREPROCESSING`): "caffe" (keras.applications' VGG16/19
and ResNet v1: RGB -> BGR, ImageNet mean subtracted, no scaling), "tf" (InceptionV3 and
ResNet v2: pixels scaled to [-1, 1]) or "torch" (keras.applications' DenseNet and every
torchvision file: pixels scaled to [0, 1], then ImageNet mean and std).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

# The preprocessing a set of weights expects (keras.applications' `mode` names).
PREPROCESSING = ("caffe", "tf", "torch")

TORCHVISION_SUBDIR = "models/torchvision"  # under Keras' cache ($KERAS_HOME or ~/.keras)

# torchvision's weights tables (torchvision 0.28.0, `<Model>_Weights.IMAGENET1K_V1.url`),
# for the seed's architectures. A family publishes one when its checkpoint map is in
# place: `weights={"torchvision": torchvision_weights("vgg16")}` in its registration.
TORCHVISION_URLS: dict[str, str] = {
    "alexnet": "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
    "vgg11": "https://download.pytorch.org/models/vgg11-8a719046.pth",
    "vgg11_bn": "https://download.pytorch.org/models/vgg11_bn-6002323d.pth",
    "vgg13": "https://download.pytorch.org/models/vgg13-19584684.pth",
    "vgg13_bn": "https://download.pytorch.org/models/vgg13_bn-abd245e5.pth",
    "vgg16": "https://download.pytorch.org/models/vgg16-397923af.pth",
    "vgg16_bn": "https://download.pytorch.org/models/vgg16_bn-6c64b313.pth",
    "vgg19": "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
    "vgg19_bn": "https://download.pytorch.org/models/vgg19_bn-c79401a0.pth",
    "googlenet": "https://download.pytorch.org/models/googlenet-1378be20.pth",
    "inception_v3": "https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth",
    "resnet18": "https://download.pytorch.org/models/resnet18-f37072fd.pth",
    "resnet34": "https://download.pytorch.org/models/resnet34-b627a593.pth",
    "resnet50": "https://download.pytorch.org/models/resnet50-0676ba61.pth",
    "resnet101": "https://download.pytorch.org/models/resnet101-63fe2227.pth",
    "resnet152": "https://download.pytorch.org/models/resnet152-394f9c45.pth",
    "densenet121": "https://download.pytorch.org/models/densenet121-a639ec97.pth",
    "densenet161": "https://download.pytorch.org/models/densenet161-8d451a50.pth",
    "densenet169": "https://download.pytorch.org/models/densenet169-b2777c0a.pth",
    "densenet201": "https://download.pytorch.org/models/densenet201-c1103571.pth",
}
TORCHVISION_TOP1_SOURCE = "torchvision IMAGENET1K_V1 acc@1"
KERAS_TOP1_SOURCE = "keras.io/api/applications Top-1"
# torchvision's reported ImageNet-1K acc@1 of each IMAGENET1K_V1 file (its weights tables).
TORCHVISION_TOP1: dict[str, float] = {
    "alexnet": 56.522, "vgg11": 69.020, "vgg11_bn": 70.370, "vgg13": 69.928,
    "vgg13_bn": 71.586, "vgg16": 71.592, "vgg16_bn": 73.360, "vgg19": 72.376,
    "vgg19_bn": 74.218, "googlenet": 69.778, "inception_v3": 77.294, "resnet18": 69.758,
    "resnet34": 73.314, "resnet50": 76.130, "resnet101": 77.374, "resnet152": 78.312,
    "densenet121": 74.434, "densenet161": 77.138, "densenet169": 75.600,
    "densenet201": 76.896,
}
# torchvision builds these with `transform_input=True` for their IMAGENET1K_V1 weights.
TORCHVISION_TRANSFORM_INPUT = ("googlenet", "inception_v3")
# The input size torchvision's weights were trained at, where it is not 224x224.
TORCHVISION_INPUT_SHAPES = {"inception_v3": (299, 299, 3)}

# torchvision's own rule (torch.hub's HASH_REGEX): the hex digits after the last "-".
_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})\.[A-Za-z0-9]+$")
_CHECKPOINT_SUFFIXES = (".pth", ".pt", ".safetensors")


@dataclasses.dataclass(frozen=True)
class PretrainedWeights:
    """Where a published weight file lives and what it expects.

    Attributes:
        top_url: the file with the classifier (the only file of a checkpoint).
        top_hash: its full md5/sha256 hash (Keras files, checked by
            `keras.utils.get_file`), or, for a `.pth` checkpoint, the sha256 prefix its
            file name carries (checked after the download).
        notop_url, notop_hash: the file without the classifier (`include_top=False`),
            where one is published; a checkpoint has none (its top is left unused).
        input_shape: the input the weights were trained on.
        num_classes: the classes of the published classifier.
        cache_subdir, cache_dir: where `keras.utils.get_file` keeps the download
            (`cache_dir=None`: `$KERAS_HOME`, read at load time, else `~/.keras`).
        preprocessing: what the weights expect of the pixels (`PREPROCESSING`).
        transform_input: after "torch" preprocessing, torchvision's `transform_input`
            step (GoogLeNet's and Inception v3's IMAGENET1K_V1 weights, trained on
            pixels scaled to [-1, 1]: each channel `x * std / 0.5 + (mean - 0.5) / 0.5`).
        top1, top1_source: the ImageNet top-1 accuracy (percent) its publisher reports
            for this file, and where (cited as theirs, not measured here).
        build_options: the family options the file's network needs, as
            `(name, value)` pairs (`(("layout", "torchvision"),)`); the builder refuses
            the weights with other options, naming these.
    """

    top_url: str
    top_hash: str
    notop_url: str | None = None
    notop_hash: str | None = None
    input_shape: tuple[int, int, int] = (224, 224, 3)
    num_classes: int = 1000
    cache_subdir: str = "models"
    cache_dir: str | None = None
    preprocessing: str | None = None
    transform_input: bool = False
    top1: float | None = None
    top1_source: str | None = None
    build_options: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self):
        if self.preprocessing is not None and self.preprocessing not in PREPROCESSING:
            raise ValueError(
                f"`preprocessing` must be one of {PREPROCESSING}; received "
                f"{self.preprocessing!r}."
            )
        if self.is_checkpoint and not re.fullmatch(r"[0-9a-f]{8,64}", self.top_hash or ""):
            raise ValueError(
                f"A checkpoint's `top_hash` is the sha256 prefix its file name carries (8 to "
                f"64 hex digits); received {self.top_hash!r} for {self.top_url!r}."
            )

    @property
    def is_checkpoint(self) -> bool:
        """Whether the file is a state-dict checkpoint (converted once into a Keras
        `.weights.h5`), rather than a Keras weights file."""
        return self.top_url.lower().endswith(_CHECKPOINT_SUFFIXES)

    def file_name(self, include_top: bool = True) -> str | None:
        """The name of the file (with or without the classifier) in the cache."""
        url = self.top_url if include_top else self.notop_url
        return None if url is None else url.rsplit("/", 1)[-1]


def hash_in_name(url: str) -> str:
    """The sha256 prefix a torchvision file name carries (`resnet18-f37072fd.pth` ->
    `"f37072fd"`)."""
    match = _HASH_IN_NAME.search(url.rsplit("/", 1)[-1])
    if match is None:
        raise ValueError(
            f"{url!r}: the file name carries no sha256 prefix (torchvision's names end in "
            "'-<hex digits>.pth')."
        )
    return match.group(1)


def torchvision_weights(model_name: str, **build_options: Any) -> PretrainedWeights:
    """The published entry of torchvision's IMAGENET1K_V1 file for `model_name` (a key
    of `TORCHVISION_URLS`): its URL, the sha256 prefix of its name, "torch"
    preprocessing (plus `transform_input` for GoogLeNet and Inception v3), cached under
    `models/torchvision`; `build_options`: the family options its network needs."""
    if model_name not in TORCHVISION_URLS:
        raise ValueError(
            f"torchvision publishes no IMAGENET1K_V1 file for {model_name!r} here; known: "
            f"{', '.join(TORCHVISION_URLS)}."
        )
    url = TORCHVISION_URLS[model_name]
    return PretrainedWeights(
        top_url=url,
        top_hash=hash_in_name(url),
        input_shape=TORCHVISION_INPUT_SHAPES.get(model_name, (224, 224, 3)),
        cache_subdir=TORCHVISION_SUBDIR,
        preprocessing="torch",
        transform_input=model_name in TORCHVISION_TRANSFORM_INPUT,
        top1=TORCHVISION_TOP1[model_name],
        top1_source=TORCHVISION_TOP1_SOURCE,
        build_options=tuple(build_options.items()),
    )
