"""Exports fail soft where an optional part is missing, and stay quiet unless asked:

* without `tensorflow-serving-api` (hidden from the import system here; the real package
  is installed) a SavedModel is exported all the same, without its TF Serving warm-up
  file, with one warning that says how to get it, and the result records the skip;
* TensorFlow's `INFO:tensorflow:Assets written to: ...` lines are held back unless the
  caller passes `verbose=True`.
"""

import logging
import sys
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_cnns import export
from keras_cnns.export.saved_model import WARMUP_FILE


@pytest.fixture(scope="module")
def model():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(2, 3, name="conv")(inputs)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x), name="tiny")


@pytest.fixture
def no_serving_api(monkeypatch):
    """`import tensorflow_serving...` raises ImportError, as where it is not installed."""
    names = [n for n in sys.modules if n == "tensorflow_serving" or n.startswith("tensorflow_serving.")]
    for name in {*names, "tensorflow_serving", "tensorflow_serving.apis"}:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError):
        from tensorflow_serving.apis import predict_pb2  # noqa: F401


def test_saved_model_without_the_serving_api_skips_only_the_warmup_file(model, tmp_path, no_serving_api):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        version_dir = export.saved_model(model, tmp_path / "tiny")
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    about_warmup = [m for m in messages if "warm-up" in m]
    assert len(about_warmup) == 1, messages
    assert "pip install --no-deps tensorflow-serving-api" in about_warmup[0]
    assert caught[[str(w.message) for w in caught].index(about_warmup[0])].filename == __file__

    assert version_dir == tmp_path / "tiny" / "1"
    assert version_dir.version == 1
    assert version_dir.warmup_file is None
    assert "tensorflow-serving-api" in version_dir.warmup_skipped_reason
    assert not (version_dir / WARMUP_FILE).exists()
    assert (tmp_path / "models.config").is_file()
    # The version itself is complete and answers.
    loaded = tf.saved_model.load(str(version_dir))
    images = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 1), dtype=np.uint8)
    answer = loaded.signatures["serving_default"](images=tf.constant(images))
    assert answer["probabilities"].shape == (2, 3)

    # Asked for explicitly, the warm-up file is an error that says how to get it.
    with pytest.raises(ImportError, match="pip install --no-deps tensorflow-serving-api"):
        export.write_warmup_requests(version_dir, "tiny", images)

    # export_run passes the record on.
    with pytest.warns(UserWarning, match="pip install --no-deps tensorflow-serving-api"):
        written = export.export_run(model, formats=["saved_model"], output_dir=tmp_path / "run")
    assert written["saved_model"].warmup_file is None
    assert written["saved_model"].warmup_skipped_reason


def test_saved_model_with_the_serving_api_writes_and_records_the_warmup_file(model, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        version_dir = export.saved_model(model, tmp_path / "tiny", version=3)
    assert version_dir.version == 3 and version_dir.warmup_skipped_reason is None
    assert version_dir.warmup_file == version_dir / WARMUP_FILE
    assert version_dir.warmup_file.is_file()
    # Paths derived from the result are plain paths.
    assert str(version_dir / "saved_model.pb") == str(tmp_path / "tiny" / "3" / "saved_model.pb")


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def tensorflow_info_logging():
    """TensorFlow's Python logger letting INFO through, as under absl or a notebook that
    configured logging; the records it lets through."""
    logger = logging.getLogger("tensorflow")
    level = logger.level
    handler = _Records()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_exports_hold_back_tensorflows_info_lines_unless_verbose(model, tmp_path, tensorflow_info_logging):
    messages = tensorflow_info_logging
    export.saved_model(model, tmp_path / "quiet")
    export.tflite(model, tmp_path / "quiet.tflite")
    assert not [m for m in messages if "Assets written to" in m], messages
    assert logging.getLogger("tensorflow").level == logging.INFO  # put back

    export.saved_model(model, tmp_path / "loud", verbose=True)
    assert [m for m in messages if "Assets written to" in m]
    messages.clear()
    export.tflite(model, tmp_path / "loud.tflite", verbose=True)
    assert [m for m in messages if "Assets written to" in m]
