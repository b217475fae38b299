"""keras_cnns.data.augment: AlexNet's PCA colour noise, per-image pad-and-crop,
Inception's random-resized crop; statistics, serialization, the JAX backend."""

import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_cnns.data import PCAColorAugmentation, RandomPadCrop, RandomResizedCrop
from keras_cnns.data.augment import IMAGENET_EIGENVALUES, IMAGENET_EIGENVECTORS
from conftest import jax_environment


# ---------------------------------------------------------------- PCA colour
def test_pca_offsets_have_the_papers_statistics_along_each_eigenvector():
    layer = PCAColorAugmentation(seed=0)
    images = np.zeros((20_000, 2, 2, 3), "float32")
    out = np.asarray(layer(images, training=True))
    # One offset per image, the same at every pixel.
    np.testing.assert_allclose(out, np.broadcast_to(out[:, :1, :1, :], out.shape), atol=1e-5)
    offsets = out[:, 0, 0, :]
    vectors = np.asarray(IMAGENET_EIGENVECTORS)  # columns are the eigenvectors
    coefficients = offsets @ vectors  # = alpha_i * lambda_i * 255 (vectors orthonormal)
    expected_std = 0.1 * np.asarray(IMAGENET_EIGENVALUES) * 255
    np.testing.assert_allclose(coefficients.std(axis=0), expected_std, rtol=0.03)
    assert np.all(np.abs(coefficients.mean(axis=0)) < 4 * expected_std / np.sqrt(len(offsets)))
    correlation = np.corrcoef(coefficients.T)
    assert np.abs(correlation - np.eye(3)).max() < 0.05
    # The first eigenvector is brightness: its column is (roughly) equal in R, G, B.
    assert np.ptp(vectors[:, 0]) < 0.02


def test_pca_offset_lies_in_the_span_of_the_eigenvectors_with_nonzero_eigenvalue():
    vectors = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]
    layer = PCAColorAugmentation(
        eigenvalues=(0.3, 0.1, 0.0), eigenvectors=vectors.tolist(), stddev=0.5,
        value_range=(0, 1), seed=1,
    )
    offsets = np.asarray(layer(np.zeros((5000, 1, 1, 3), "float32"), training=True))[:, 0, 0]
    along = offsets @ vectors
    assert np.abs(along[:, 2]).max() < 1e-6  # nothing along the zero-eigenvalue direction
    np.testing.assert_allclose(along[:, :2].std(axis=0), [0.5 * 0.3, 0.5 * 0.1], rtol=0.05)


def test_pca_is_the_identity_at_inference_and_needs_rgb():
    images = np.random.default_rng(0).uniform(0, 255, (4, 5, 5, 3)).astype("float32")
    unchanged = PCAColorAugmentation()(images, training=False)
    np.testing.assert_array_equal(np.asarray(unchanged), images)
    with pytest.raises(ValueError, match="needs RGB images"):
        PCAColorAugmentation()(np.zeros((2, 4, 4, 1), "float32"), training=True)
    with pytest.raises(ValueError, match="`eigenvalues` must be three finite numbers >= 0"):
        PCAColorAugmentation(eigenvalues=(1.0, -1.0, 0.0))
    with pytest.raises(ValueError, match="`eigenvectors` must be a 3x3 matrix"):
        PCAColorAugmentation(eigenvectors=[[1, 0], [0, 1]])
    with pytest.raises(ValueError, match=r"`stddev` must be a number in \[0, inf\); received -0.1"):
        PCAColorAugmentation(stddev=-0.1)


# ------------------------------------------------------------------- pad + crop
def _marker_positions(out):
    flat = out.reshape(len(out), -1).argmax(axis=1)
    return np.stack(np.unravel_index(flat, out.shape[1:3]), axis=1)


def test_pad_crop_is_an_integer_shift_per_image_uniform_in_minus4_to_4():
    images = np.zeros((6000, 17, 17, 1), "float32")
    images[:, 8, 8, 0] = 1.0
    out = np.asarray(RandomPadCrop(4, seed=3)(images, training=True))
    assert out.shape == images.shape
    assert np.allclose(out.sum(axis=(1, 2, 3)), 1.0)  # shifts by <= 4 keep the marker
    shifts = _marker_positions(out) - 8
    assert shifts.min() == -4 and shifts.max() == 4
    for axis in range(2):
        counts = np.bincount(shifts[:, axis] + 4, minlength=9) / len(shifts)
        np.testing.assert_allclose(counts, 1 / 9, atol=0.02)  # ends as likely as the middle
    assert len({tuple(s) for s in shifts[:32]}) > 10  # drawn per image, not per batch


def test_pad_crop_moves_real_pixels_and_fills_with_zeros():
    rng = np.random.default_rng(0)
    images = rng.integers(1, 256, (32, 12, 12, 3)).astype("float32")
    out = np.asarray(RandomPadCrop(4, seed=0)(images, training=True))
    padded = np.pad(images, ((0, 0), (4, 4), (4, 4), (0, 0)))
    for image, result in zip(padded, out):
        crops = [image[dy:dy + 12, dx:dx + 12] for dy in range(9) for dx in range(9)]
        assert any(np.array_equal(result, crop) for crop in crops)
    np.testing.assert_array_equal(np.asarray(RandomPadCrop(0)(images, training=True)), images)
    with pytest.raises(ValueError, match="`padding` must be an integer >= 0"):
        RandomPadCrop(-1)


# ------------------------------------------------------------- random resized crop
def test_random_resized_crop_full_box_is_the_identity_and_a_quarter_box_zooms_2x():
    width = 32
    ramp = np.tile(np.arange(width, dtype="float32"), (8, width, 1))[..., None]
    whole = RandomResizedCrop(scale=(1.0, 1.0), ratio=(1.0, 1.0), seed=0)
    np.testing.assert_allclose(np.asarray(whole(ramp, training=True)), ramp, atol=1e-4)
    quarter = np.asarray(
        RandomResizedCrop(scale=(0.25, 0.25), ratio=(1.0, 1.0), seed=0)(ramp, training=True)
    )
    # Half the image over the full width (the last step may touch the border).
    steps = np.diff(quarter[:, 0, :, 0], axis=1)[:, :-1]
    np.testing.assert_allclose(steps, 0.5, atol=1e-3)
    starts = quarter[:, 0, 0, 0]
    assert starts.min() >= 0 and starts.max() <= width / 2 and np.ptp(starts) > 1


def test_random_resized_crop_checks_its_ranges():
    with pytest.raises(ValueError, match="`scale` must be > 0"):
        RandomResizedCrop(scale=(0.0, 1.0))
    with pytest.raises(ValueError, match=r"`scale` must satisfy 0.0 <= low <= high <= 1.0"):
        RandomResizedCrop(scale=(0.5, 1.5))
    with pytest.raises(ValueError, match="`ratio` must be a pair"):
        RandomResizedCrop(ratio=1.0)


# ------------------------------------------------------------------ serialization
@pytest.mark.parametrize(
    "layer",
    [
        PCAColorAugmentation(stddev=0.2, value_range=(0, 1), seed=4),
        RandomPadCrop(2, seed=5),
        RandomResizedCrop(scale=(0.3, 0.9), ratio=(0.5, 2.0), seed=6),
    ],
    ids=lambda layer: type(layer).__name__,
)
def test_layers_save_and_load_in_a_model(layer, tmp_path):
    config = layer.get_config()
    rebuilt = type(layer).from_config(config)
    assert rebuilt.get_config() == config
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, layer(inputs))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert type(loaded.layers[-1]) is type(layer)
    assert loaded.layers[-1].get_config() == config
    x = np.random.default_rng(0).uniform(0, 1, (2, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), x, atol=1e-6)  # inference: identity


JAX_SCRIPT = """
import json, keras, numpy as np
from keras_cnns.data import (PCAColorAugmentation, RandomPadCrop, RandomResizedCrop,
                             from_arrays, build_pipeline, AUGMENTATIONS)
x = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)).astype("float32")
report = {"backend": keras.backend.backend(), "layers": {}}
for layer in (PCAColorAugmentation(seed=1), RandomPadCrop(seed=1), RandomResizedCrop(seed=1)):
    y = np.asarray(layer(x, training=True))
    report["layers"][type(layer).__name__] = [list(y.shape), bool(np.any(y != x))]
data = from_arrays(x.astype("uint8"), np.arange(4))
ds = build_pipeline(data, input_shape=(16, 16, 3), batch_size=2, training=True,
                    augmentation=list(AUGMENTATIONS))
report["batches"] = [list(images.shape) for images, _ in ds]
print(json.dumps(report))
"""


def test_layers_and_pipeline_run_under_the_jax_backend():
    env = jax_environment(TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run(
        [sys.executable, "-c", JAX_SCRIPT], env=env, capture_output=True, text=True,
        cwd=Path(__file__).parents[1], timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["backend"] == "jax"
    for name, (shape, changed) in report["layers"].items():
        assert shape == [4, 16, 16, 3] and changed, name
    assert report["batches"] == [[2, 16, 16, 3], [2, 16, 16, 3]]
