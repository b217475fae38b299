"""Check one registered model under the PyTorch backend against TensorFlow's outputs, then
take one SGD step; print a JSON report on the last line. Run by test_every_model.py in a
process with KERAS_BACKEND=torch:

    torch_backend_check.py NAME FOLDER   # one model
    torch_backend_check.py --serve       # "NAME FOLDER" lines on stdin, a report line each

The test runs one `--serve` process per test worker, which takes the models one after
the other: importing Keras under PyTorch costs about 7 s, more than the whole check of
most models. After a model that left the process holding more than RESTART_ABOVE_MB of
memory, or IDLE_EXIT_S seconds without a model, it exits, and the test starts a fresh
one for the next model.

FOLDER holds what the TensorFlow side wrote (test_saves_loads_and_exports): `NAME.keras`
(the TensorFlow model, whose weights are loaded here) and `NAME.npz` with `x` (the
batch), `features` (the classifier's input, from TensorFlow) and `logits` (the
classifier before its activation: `features @ kernel + bias` for the Dense classifiers,
the features themselves for LeNet-5's RBF layer, whose `predictions` layer is only the
activation).

Here the model is built with `classifier_activation=None`, so that its output is the
logits (with 7 classes and random weights, softmax outputs are all near 1/7 and would hide
an error), the TensorFlow model's weights are loaded, and the features and logits of the
same batch are computed in inference mode. The report gives, for each, the largest
absolute difference from TensorFlow's and the scale (largest |value| from TensorFlow), and
then the logits' largest difference after the first convolution's kernel is scaled by
1.001 (a 0.1 % error), which the test requires to fail the tolerance the unperturbed
model meets. Then one SGD train_on_batch step: its loss and whether the weights changed."""

import json
import os
import sys
import time
import zipfile

start = time.perf_counter()
# One thread: on these small inputs PyTorch's threads cost more than they save, the more
# so beside the test's exports (on two busy cores, DenseNet-121's check took 19 s with
# PyTorch's default two threads, 2.3 s with one; ResNet-1202's 384 s, 21 s).
os.environ["OMP_NUM_THREADS"] = "1"

import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

import keras_cnns  # noqa: E402
from check_server import memory_mb, serve  # noqa: E402
from conftest import small_input_shape  # noqa: E402
from keras_cnns.layers.heads import CLASSIFIER  # noqa: E402

IMPORT_SECONDS = round(time.perf_counter() - start, 2)
PERTURBATION = 1.001  # the first convolution's kernel times this: a 0.1 % error
RESTART_ABOVE_MB = 2000
# The test worker runs other tests between these models (its other modules, in the
# order conftest.py gives): the process leaves after this long without a request, rather
# than hold its memory (over 1 GB after the deep models) through them.
IDLE_EXIT_S = 300


def features_and_logits(view, x):
    with torch.no_grad():
        logits, features = view(x, training=False)
    return keras.ops.convert_to_numpy(features), keras.ops.convert_to_numpy(logits)


def largest_difference(a, b) -> float:
    return float(np.max(np.abs(a.astype("float64") - b.astype("float64"))))


def check(name: str, folder: str) -> dict:
    timings = {}
    t = start = time.perf_counter()
    cpu = time.process_time()

    def lap(step: str) -> None:
        nonlocal t
        now = time.perf_counter()
        timings[step] = round(now - t, 2)
        t = now

    tf_side = np.load(f"{folder}/{name}.npz")
    x = tf_side["x"]
    model = keras_cnns.get_model(
        name, num_classes=7, input_shape=small_input_shape(name), classifier_activation=None
    )
    lap("build")
    # The TensorFlow model's weights file, taken out of its `.keras` archive: Keras reads
    # an archive's weights through the zip file, two to three times slower.
    with zipfile.ZipFile(f"{folder}/{name}.keras") as archive:
        weights = archive.extract("model.weights.h5", f"{folder}/{name}.torch")
    model.load_weights(weights)
    lap("load_weights")
    # TensorFlow's view of the network: its output and the classifier's input.
    view = keras.Model(model.input, [model.outputs[0], model.get_layer(CLASSIFIER).input])
    features, logits = features_and_logits(view, x)
    lap("inference")
    report = {"backend": keras.backend.backend(), "name": name}
    for output, value in (("features", features), ("logits", logits)):
        report[output] = {
            "difference": largest_difference(value, tf_side[output]),
            "scale": float(np.max(np.abs(tf_side[output]))),
        }

    first_conv = next(
        layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.Conv2D)
    )
    original = keras.ops.convert_to_numpy(first_conv.kernel)
    first_conv.kernel.assign(original * PERTURBATION)
    report["perturbed"] = {
        "layer": first_conv.path,
        "logits_difference": largest_difference(features_and_logits(view, x)[1], tf_side["logits"]),
    }
    first_conv.kernel.assign(original)
    lap("perturbed_inference")

    model.compile(
        optimizer=keras.optimizers.SGD(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=False,
    )
    before = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    loss = model.train_on_batch(x, np.array([0, 2]))
    after = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    lap("train_step")
    report["loss"] = float(np.asarray(loss).ravel()[0])
    report["changed"] = any(not np.array_equal(b, a) for b, a in zip(before, after))
    timings["total"] = round(time.perf_counter() - start, 2)
    timings["cpu"] = round(time.process_time() - cpu, 2)  # both cores' seconds
    report["seconds"] = timings
    report["import_seconds"] = IMPORT_SECONDS
    report["peak_memory_mb"] = memory_mb("VmHWM")
    return report


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve(check, restart_above_mb=RESTART_ABOVE_MB, idle_exit_s=IDLE_EXIT_S)
    else:
        print(json.dumps(check(*sys.argv[1:3])))
