"""SavedModel exports in TF Serving's layout.

    <base_path>/                      TF Serving's model base path (one model)
      1/, 2/, ...                     versions; the server serves the highest by default
        saved_model.pb, variables/
        assets.extra/tf_serving_warmup_requests   (needs tensorflow-serving-api's protos)
    <base_path>/../models.config      every model in the parent folder, for --model_config_file

Signatures of each version:

* `serving_default` — `images`: uint8 `[N, h, w, C]` of any size `h` x `w` (C: the model's
  channels). The model's own preprocessing runs inside (pad or resize to the model's size,
  normalization); returns `probabilities` `[N, classes]`, `classes` (top-k indices, int32)
  and `class_names` (their labels).
* `serve_image_bytes` — `image_bytes`: `[N]` encoded JPEG/PNG/GIF/BMP images (any sizes), same
  outputs. Over TF Serving's REST API they travel as `{"b64": "..."}`.
* `serve_preprocessed` — `inputs`: float32 `[N, H, W, C]` already preprocessed; returns
  `probabilities`: the bare network.

Every signature runs the network in inference mode (dropout off, batch normalization with
its moving statistics) without auxiliary heads.

The warm-up file is optional: without the `tensorflow-serving-api` package the version is
exported all the same, without it, with one warning that says how to get it; the returned
`SavedModelExport` records the skip (`warmup_file=None`, `warmup_skipped_reason`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any, Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_cnns.export.logs import tensorflow_logging
from keras_cnns.export.preprocessing import Preprocessing
from keras_cnns.export.source import check_class_names, inference_model
from keras_cnns.serving.images import check_images

WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"
MODELS_CONFIG = "models.config"
SIGNATURES = ("serving_default", "serve_image_bytes", "serve_preprocessed")
DEFAULT_TOP_K = 5
WARMUP_INSTALL = (
    "pip install --no-deps tensorflow-serving-api (--no-deps: it would otherwise pull a "
    "second TensorFlow beside tensorflow-cpu)"
)


class SavedModelExport(type(Path())):
    """The version folder `saved_model` wrote (a `pathlib.Path`), with what is in it.

    Attributes:
        version: the version number (the folder's name).
        warmup_file: `assets.extra/tf_serving_warmup_requests` inside it, or None where
            it was not written.
        warmup_skipped_reason: why the warm-up file was not written (None where it was).

    Paths derived from it (`export / "saved_model.pb"`, `export.parent`) are plain paths.
    """

    version: int | None = None
    warmup_file: Path | None = None
    warmup_skipped_reason: str | None = None

    def with_segments(self, *segments):  # Python >= 3.12: derived paths are plain
        return Path(*segments)

    @classmethod
    def _record(cls, folder: Path, version: int, warmup_file: Path | None, skipped: str | None):
        result = cls(folder)
        result.version = version
        result.warmup_file = warmup_file
        result.warmup_skipped_reason = skipped
        return result


def _serving_protos():
    """tensorflow-serving-api's `model_pb2`, `predict_pb2` and `prediction_log_pb2`;
    ImportError (with how to install them) where the package is missing."""
    try:
        from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2
    except ImportError as err:
        raise ImportError(
            "Writing TF Serving warm-up requests needs the `tensorflow-serving-api` protos: "
            f"{WARMUP_INSTALL}."
        ) from err
    return model_pb2, predict_pb2, prediction_log_pb2


def _check_version(version: Any, base: Path) -> int:
    taken = existing_versions(base)
    if version is None:
        return max(taken, default=0) + 1
    if isinstance(version, bool) or not isinstance(version, (int, np.integer)) or version < 1:
        raise ValueError(
            f"`version` must be a positive integer (TF Serving's version folders) or None for "
            f"the next free one; received {version!r}."
        )
    if (base / str(int(version))).exists():
        raise FileExistsError(
            f"Version {int(version)} of {base.name!r} already exists at {base / str(int(version))}; "
            f"an export never overwrites a version. Use version=None (next free: "
            f"{max(taken, default=0) + 1}) or another number."
        )
    return int(version)


def existing_versions(base_path: str | os.PathLike) -> list[int]:
    """The numeric version folders under a model's base path, sorted."""
    base = Path(base_path)
    if not base.is_dir():
        return []
    return sorted(int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit())


def _is_probabilities(model: keras.Model) -> bool:
    layer = model.layers[-1]
    activation = getattr(layer, "activation", None)
    return activation is keras.activations.softmax or getattr(activation, "__name__", "") == "softmax"


def serving_functions(
    model: keras.Model,
    class_names: Sequence[str],
    preprocessing: Preprocessing,
    top_k: int,
):
    """The three signature functions (plain Python callables over TF tensors)."""
    input_shape = tuple(model.input_shape[1:])
    channels = input_shape[-1]
    labels = tf.constant(list(class_names))
    softmax = not _is_probabilities(model)

    # The model traced once, here, into one concrete function that all three signatures
    # call: tracing a deep network (ResNet-1202: ~4,000 layers) takes minutes, and a
    # tf.function called from each signature's graph would be traced again for each.
    @tf.function(autograph=False)
    def model_probabilities(inputs):
        scores = model(inputs, training=False)
        return tf.nn.softmax(scores, axis=-1) if softmax else scores

    traced = model_probabilities.get_concrete_function(
        tf.TensorSpec([None, *input_shape], tf.float32)
    )

    def probabilities(inputs):
        return traced(tf.ensure_shape(inputs, [None, *input_shape]))

    def answer(inputs):
        probs = probabilities(inputs)
        top = tf.math.top_k(probs, k=top_k).indices
        return {"probabilities": probs, "classes": top, "class_names": tf.gather(labels, top)}

    def serve_images(images):
        check = tf.debugging.assert_equal(
            tf.shape(images)[-1], channels,
            message=f"`images` must be uint8 [N, height, width, {channels}]: the model takes "
            f"{channels} channel(s); the request's last dimension differs",
        )
        with tf.control_dependencies([check]):
            return answer(preprocessing(tf.identity(images), input_shape))

    def decode_one(encoded):
        image = tf.io.decode_image(encoded, channels=channels, dtype=tf.uint8, expand_animations=False)
        fitted = preprocessing(image[tf.newaxis], input_shape)[0]
        return tf.ensure_shape(fitted, [*input_shape])

    def serve_image_bytes(image_bytes):
        return answer(tf.map_fn(decode_one, image_bytes, fn_output_signature=tf.float32))

    def serve_preprocessed(inputs):
        return {"probabilities": probabilities(inputs)}

    return serve_images, serve_image_bytes, serve_preprocessed


def saved_model(
    model: keras.Model,
    base_path: str | os.PathLike,
    *,
    version: int | None = None,
    class_names: Sequence[str] | None = None,
    preprocessing: Preprocessing | None = None,
    top_k: int = DEFAULT_TOP_K,
    warmup_images: np.ndarray | None = None,
    models_config: bool = True,
    verbose: bool = False,
) -> SavedModelExport:
    """Export `model` as version `version` of a TF Serving model at `base_path`.

    Args:
        model: a Keras model (auxiliary heads are dropped; see the module docstring for
            the signatures written).
        base_path: TF Serving's base path of this model, e.g. `saved_models/lenet5`.
        version: the version folder; None takes the next free integer. An existing
            version is never overwritten (FileExistsError).
        class_names: labels of the classes (default "0", "1", ...).
        preprocessing: how uint8 pixels become the model's input (default: divide by 255).
        top_k: how many classes `classes` and `class_names` list (at most the class count).
        warmup_images: uint8 `[N, h, w, C]` images; each becomes one warm-up request that
            TF Serving replays when it loads the version (default: 3 seeded random images
            at the model's input size). Writing them needs `tensorflow-serving-api`;
            without it the version is exported without them, with one warning.
        models_config: (re)write `models.config` in `base_path`'s parent, listing every
            model exported there (TF Serving's `--model_config_file`).
        verbose: let TensorFlow's INFO log lines through ("Assets written to: ...").

    Returns:
        The version folder written: a `SavedModelExport`, a `pathlib.Path` that also
        tells whether the warm-up file was written (`warmup_file`,
        `warmup_skipped_reason`).
    """
    model = inference_model(model)
    base = Path(base_path)
    num_classes = int(model.output_shape[-1])
    names = check_class_names(class_names, num_classes)
    preprocessing = preprocessing or Preprocessing()
    if not isinstance(preprocessing, Preprocessing):
        raise TypeError(
            f"`preprocessing` must be a keras_cnns.export.Preprocessing or None; received "
            f"{type(preprocessing).__name__}."
        )
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k:
        raise ValueError(f"`top_k` must be a positive integer; received {top_k!r}.")
    top_k = min(top_k, num_classes)
    input_shape = tuple(model.input_shape[1:])
    if warmup_images is None:
        size = [d or 32 for d in input_shape[:2]]
        warmup_images = np.random.default_rng(0).integers(0, 256, (3, *size, input_shape[-1]), dtype=np.uint8)
    warmup_images = check_images(warmup_images, input_shape[-1], "warmup_images")
    version = _check_version(version, base)
    try:
        protos = _serving_protos()
        skipped = None
    except ImportError as err:
        protos, skipped = None, f"the `tensorflow-serving-api` package is missing ({err.__cause__ or err})"
        warnings.warn(
            f"Exporting {base.name!r} version {version} without TF Serving warm-up requests "
            f"({WARMUP_FILE.as_posix()}): {skipped}. The version serves all the same; its "
            f"first requests are slower. To write them: {WARMUP_INSTALL}.",
            UserWarning,
            stacklevel=2,
        )

    serve_images, serve_image_bytes, serve_preprocessed = serving_functions(
        model, names, preprocessing, top_k
    )
    # The endpoints track the model's variables; tracking the model object too would make
    # the save trace the whole network once more for Keras' own serving signature.
    archive = keras.export.ExportArchive()
    archive.add_endpoint(
        "serving_default", serve_images,
        [tf.TensorSpec([None, None, None, input_shape[-1]], tf.uint8, name="images")],
    )
    archive.add_endpoint(
        "serve_image_bytes", serve_image_bytes, [tf.TensorSpec([None], tf.string, name="image_bytes")]
    )
    archive.add_endpoint(
        "serve_preprocessed", serve_preprocessed,
        [tf.TensorSpec([None, *input_shape], tf.float32, name="inputs")],
    )

    base.mkdir(parents=True, exist_ok=True)
    # Written beside the final folder, then renamed: TF Serving polls the base path and
    # must never see a half-written version.
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{version}-", dir=base))
    try:
        with tensorflow_logging(verbose):
            archive.write_out(str(staging), verbose=False)
        if protos is not None:
            _write_warmup(staging, base.name, warmup_images, protos)
        final = base / str(version)
        os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if models_config:
        write_models_config(base.parent)
    return SavedModelExport._record(
        final, version, None if protos is None else final / WARMUP_FILE, skipped
    )


def write_warmup_requests(version_dir: str | os.PathLike, model_name: str, images: np.ndarray) -> Path:
    """`assets.extra/tf_serving_warmup_requests`: one PredictionLog per image (a
    `serving_default` predict request of batch size 1), the records TF Serving replays when
    it loads a version so that the first real request is not slow.

    Raises:
        ImportError: the `tensorflow-serving-api` package is missing (with how to install it).
    """
    return _write_warmup(version_dir, model_name, images, _serving_protos())


def _write_warmup(version_dir, model_name: str, images: np.ndarray, protos) -> Path:
    model_pb2, predict_pb2, prediction_log_pb2 = protos
    path = Path(version_dir) / WARMUP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for image in images:
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name="serving_default")
            )
            request.inputs["images"].CopyFrom(tf.make_tensor_proto(image[np.newaxis]))
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
            writer.write(log.SerializeToString())
    return path


def write_models_config(root: str | os.PathLike, container_root: str = "/models") -> Path:
    """`<root>/models.config`: TF Serving's `model_config_list` naming every model folder
    under `root` that holds at least one exported version. `base_path`s are given as the
    server sees them: `root` mounted at `container_root` (the docker command in the README)."""
    root = Path(root)
    entries = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if any((folder / str(v) / "saved_model.pb").is_file() for v in existing_versions(folder)):
            entries.append(
                "  config {\n"
                f"    name: '{folder.name}'\n"
                f"    base_path: '{container_root.rstrip('/')}/{folder.name}'\n"
                "    model_platform: 'tensorflow'\n"
                "  }\n"
            )
    path = root / MODELS_CONFIG
    path.write_text("model_config_list {\n" + "".join(entries) + "}\n")
    return path
