"""Models with auxiliary heads: the output layers are named after the output dict's keys,
so compiling with `{name: loss for name in model.output_names}` works."""

import keras
import numpy as np
import pytest

import keras_cnns
from keras_cnns.models import auxiliary

AUX_MODELS = [
    ("googlenet", (65, 65, 3), ["logits", "aux1", "aux2"]),
    ("inception_v3", (107, 107, 3), ["logits", "aux"]),
]


@pytest.mark.parametrize("name,shape,outputs", AUX_MODELS, ids=[m[0] for m in AUX_MODELS])
def test_output_names_are_the_dict_keys_and_compile(name, shape, outputs, rng):
    keras.utils.set_random_seed(0)
    model = keras_cnns.get_model(name, num_classes=3, input_shape=shape, aux_logits=True)
    assert list(model.output) == outputs  # the main output first in the dict
    assert auxiliary.output_names(model) == outputs
    assert sorted(model.output_names) == sorted(outputs)  # Keras lists them sorted
    for key in outputs:
        assert model.get_layer(key).output.shape == (None, 3)
    assert "predictions" not in [layer.name for layer in model.layers]

    loss = keras.losses.SparseCategoricalCrossentropy()
    model.compile(keras.optimizers.SGD(0.01), loss={name: loss for name in model.output_names})
    x = rng.uniform(-1, 1, size=(2, *shape)).astype("float32")
    y = np.array([0, 2])
    history = model.fit(x, {name: y for name in model.output_names}, batch_size=2, epochs=1, verbose=0)
    logs = {k: v[-1] for k, v in history.history.items()}
    assert all(f"{key}_loss" in logs for key in outputs)
    assert np.isfinite(logs["loss"])
    assert logs["loss"] == pytest.approx(sum(logs[f"{key}_loss"] for key in outputs), rel=1e-4)


def test_without_aux_heads_the_classifier_keeps_its_name():
    for name, shape in (("googlenet", (32, 32, 3)), ("inception_v3", (75, 75, 3))):
        model = keras_cnns.get_model(name, num_classes=3, input_shape=shape)
        assert model.output_names == ["predictions"]
        assert auxiliary.output_names(model) == []


def test_output_order_survives_saving(tmp_path):
    model = keras_cnns.googlenet(num_classes=3, input_shape=(65, 65, 3), aux_logits=True)
    path = tmp_path / "aux.keras"
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    assert auxiliary.output_names(restored) == ["logits", "aux1", "aux2"]
    assert sorted(restored.output_names) == ["aux1", "aux2", "logits"]
    serving = auxiliary.without_aux_heads(restored)
    assert serving.output_names == ["logits"]
