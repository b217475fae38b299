"""Build the registered models named by argv[1] (a model or a family name) at a small input under the
current Keras backend and take one SGD step; print a JSON report on the last line. Run by
test_every_model.py with KERAS_BACKEND=jax."""

import json
import sys

import keras
import numpy as np

import keras_cnns
from conftest import small_input_shape

report = {"backend": keras.backend.backend(), "models": {}}
rng = np.random.default_rng(0)
wanted = sys.argv[1]
names = keras_cnns.list_models(wanted) if wanted in keras_cnns.list_families() else [wanted]
for name in names:
    keras.utils.set_random_seed(0)
    shape = small_input_shape(name)
    model = keras_cnns.get_model(name, num_classes=3, input_shape=shape)
    # One step, compiled with XLA. Op by op, JAX compiles every primitive for each new
    # shape, which made the step cost more than XLA's compile of the whole graph for
    # every model (GoogLeNet 38 s op by op against 15 s, DenseNet-121 192 s against
    # 53 s). test_every_model.py lowers XLA's backend optimization level: the step
    # runs once, so its compile time is what counts (ResNet-1202 44 s and 1.8 GB).
    model.compile(
        optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy", jit_compile=True
    )
    x = rng.uniform(0, 1, size=(2, *shape)).astype("float32")
    y = np.array([0, 2])
    before = [np.array(w) for w in model.trainable_weights]
    loss = model.train_on_batch(x, y)
    after = [np.array(w) for w in model.trainable_weights]
    changed = any(not np.array_equal(b, a) for b, a in zip(before, after))
    report["models"][name] = {"loss": float(np.asarray(loss).ravel()[0]), "changed": changed}
    keras.backend.clear_session()
print(json.dumps(report))
