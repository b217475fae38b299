"""The seed's claims, computed on real Keras layers, against the seed's arithmetic."""

import keras
import numpy as np
import pytest

from keras_cnns.analysis import (
    asymmetric_factorization,
    bottleneck_example,
    fully_connected_share,
    gap_vs_fully_connected_head,
    label_smoothing_matches_keras,
    label_smoothing_targets,
    seed_claims,
    stacked_vs_single_convolution,
)


@pytest.mark.parametrize("channels", [1, 16, 64])
def test_three_3x3_against_one_7x7(channels):
    result = stacked_vs_single_convolution(channels=channels)
    c2 = channels * channels
    assert result.stacked_receptive_field == result.single_receptive_field == 7
    assert result.single_kernel == 7
    assert result.stacked_weights == 3 * (3 * 3 * c2) == 27 * c2
    assert result.single_weights == 7 * 7 * c2 == 49 * c2
    assert result.weight_ratio == pytest.approx(49 / 27)


def test_two_3x3_see_5x5():
    result = stacked_vs_single_convolution(channels=8, layers=2)
    assert result.stacked_receptive_field == 5 and result.single_weights == 25 * 64


def test_bottleneck_example():
    result = bottleneck_example()
    assert result.direct_weights == 128 * 5 * 5 * 256 == 819_200
    assert result.bottleneck_weights == 128 * 1 * 1 * 32 + 32 * 5 * 5 * 256 == 208_896
    assert result.reduction == pytest.approx(3.92, abs=0.01)  # the seed's "about 4x"
    assert result.direct_macs == 100 * 100 * 819_200
    assert result.bottleneck_macs == 100 * 100 * 208_896


def test_fully_connected_share_of_vgg():
    vgg16 = fully_connected_share("vgg16")
    assert vgg16.fully_connected_params == (7 * 7 * 512 + 1) * 4096 + 4097 * 4096 + 4097 * 1000
    assert vgg16.total_params == 138_357_544
    assert round(vgg16.share * 100, 1) == 89.4
    vgg19 = fully_connected_share("vgg19")
    assert vgg19.total_params == 143_667_240
    assert round(vgg19.share * 100, 1) == 86.1
    # Any Keras model works too.
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(2, 3), keras.layers.Flatten(), keras.layers.Dense(2)])
    share = fully_connected_share(model)
    assert (share.fully_connected_params, share.total_params) == (18, 38)
    with pytest.raises(TypeError, match="takes a Keras model"):
        fully_connected_share(42)


def test_gap_against_fully_connected_head():
    result = gap_vs_fully_connected_head()
    assert result.fully_connected_params == 123_642_856
    assert result.gap_params == 512 * 1000 + 1000
    assert result.ratio == pytest.approx(241.0, abs=0.1)
    assert result.fully_connected_macs == 25088 * 4096 + 4096 * 4096 + 4096 * 1000
    assert result.gap_macs == 512 * 1000
    with pytest.raises(ValueError, match="`features` must be a feature-map shape"):
        gap_vs_fully_connected_head(features=(7, 512))


@pytest.mark.parametrize("n", [3, 5, 7])
def test_asymmetric_factorization(n):
    result = asymmetric_factorization(n)
    assert result.square_weights == n * n
    assert result.factorized_weights == 2 * n
    assert result.square_receptive_field == result.factorized_receptive_field == (n, n)
    assert result.saving == pytest.approx(1 - 2 / n)
    with_channels = asymmetric_factorization(n, channels=4)
    assert (with_channels.square_weights, with_channels.factorized_weights) == (16 * n * n, 16 * 2 * n)


def test_label_smoothing_formula():
    targets = label_smoothing_targets([2, 0], num_classes=4, epsilon=0.1)
    expected = np.array([[0.025, 0.025, 0.925, 0.025], [0.925, 0.025, 0.025, 0.025]])
    np.testing.assert_allclose(targets, expected)
    np.testing.assert_allclose(targets.sum(axis=1), 1.0)
    np.testing.assert_allclose(label_smoothing_targets([1], 3, 0.0), [[0, 1, 0]])
    with pytest.raises(ValueError, match="`epsilon` must be a number in \\[0, 1\\]"):
        label_smoothing_targets([0], 3, 1.5)
    with pytest.raises(ValueError, match="`labels` must lie in \\[0, 2\\]"):
        label_smoothing_targets([3], 3)


@pytest.mark.parametrize("epsilon", [0.0, 0.1, 0.3])
def test_label_smoothing_is_what_keras_uses(epsilon):
    ours, theirs = label_smoothing_matches_keras(epsilon=epsilon, num_classes=10)
    assert ours == pytest.approx(theirs, rel=1e-5)
    # And smoothing changes the loss (the check can fail).
    if epsilon:
        plain, _ = label_smoothing_matches_keras(epsilon=0.0, num_classes=10)
        assert abs(ours - plain) > 1e-3


def test_seed_claims_table():
    rows = seed_claims()
    assert len(rows) == 6
    assert all(set(row) == {"claim", "seed", "computed"} for row in rows)
    text = " ".join(row["computed"] for row in rows)
    for figure in ("27C²", "49C²", "819,200", "208,896", "3.92x", "89.4%", "86.1%", "513,000", "33%"):
        assert figure in text
