"""Stochastic depth (Huang et al. 2016, "Deep networks with stochastic depth").

A residual network trained with stochastic depth drops whole residual branches at random:
block l keeps its branch with survival probability p_l, and the identity shortcut carries
the signal past a dropped block. At test time every branch is kept and scaled by p_l, its
expected contribution during training. The paper lets p_l decay linearly with depth from
p_0 = 1 (the input) to p_L = 0.5 at the last block.
"""

from __future__ import annotations


import keras
from keras import ops

from keras_cnns.validation import check_positive_int, check_survival_probability

MODES = ("batch", "row")


def linear_survival_probabilities(num_blocks: int, final_probability: float) -> list[float]:
    """Survival probabilities `p_l = 1 - (l / L) * (1 - p_L)` for blocks `l = 1..L`.

    This is the linear decay rule of Huang et al. (section 3): the first block keeps its
    branch almost always, the last one with probability `final_probability`.
    """
    check_positive_int("num_blocks", num_blocks)
    final_probability = check_survival_probability("final_probability", final_probability)
    return [
        1.0 - (index / num_blocks) * (1.0 - final_probability)
        for index in range(1, num_blocks + 1)
    ]


@keras.saving.register_keras_serializable(package="keras_cnns")
class StochasticDepth(keras.layers.Layer):
    """Adds a residual branch to its shortcut, dropping the branch at random in training.

    Called on `[shortcut, residual]` (two tensors of the same shape), it returns

    - in training: `shortcut + b * residual`, with `b ~ Bernoulli(survival_probability)`
      drawn once per call (`mode="batch"`, as in the paper: a whole mini-batch skips the
      block) or once per example (`mode="row"`, torchvision's "row" mode);
    - in inference: `shortcut + survival_probability * residual`, the expected value.

    With `inverted=True` the scaling moves to training instead: `b / p` in training and
    the plain sum in inference (the form used by timm and torchvision), so a trained
    model's inference graph is the ordinary residual network.

    The layer replaces the `Add` that merges a residual block, so a network with stochastic
    depth has the same weighted layers, in the same order, as the one without.

    Args:
        survival_probability: probability in (0, 1] of keeping the branch.
        mode: `"batch"` or `"row"` (see above).
        inverted: scale by `1 / p` in training instead of by `p` in inference.
        seed: optional integer seed for the random draws.
    """

    def __init__(
        self,
        survival_probability: float = 0.5,
        mode: str = "batch",
        inverted: bool = False,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.survival_probability = check_survival_probability(
            "survival_probability", survival_probability
        )
        if mode not in MODES:
            raise ValueError(
                f"Invalid `mode`: {mode!r}. Accepted values: 'batch' (one draw per "
                "mini-batch, as in the paper) or 'row' (one draw per example)."
            )
        if not isinstance(inverted, bool):
            raise TypeError(f"`inverted` must be True or False; received {inverted!r}.")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise TypeError(f"`seed` must be None or an integer; received {seed!r}.")
        self.mode = mode
        self.inverted = inverted
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2:
            raise ValueError(
                "StochasticDepth is called on [shortcut, residual]; received inputs of "
                f"shape {input_shape!r}."
            )
        shortcut, residual = (tuple(s) for s in input_shape)
        if shortcut != residual:
            raise ValueError(
                "StochasticDepth needs the shortcut and the residual branch to have the "
                f"same shape; received {shortcut} and {residual}."
            )
        super().build(input_shape)

    def call(self, inputs, training=None):
        shortcut, residual = inputs
        p = self.survival_probability
        if not training:
            return shortcut + (residual if self.inverted else residual * p)
        if p == 1.0:
            return shortcut + residual
        rank = len(residual.shape)
        if self.mode == "batch":
            shape = (1,) * rank
        else:
            shape = (ops.shape(residual)[0],) + (1,) * (rank - 1)
        draw = keras.random.uniform(shape, seed=self.seed_generator, dtype=residual.dtype)
        keep = ops.cast(draw < p, residual.dtype)
        if self.inverted:
            keep = keep / p
        return shortcut + keep * residual

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        config = super().get_config()
        config.update(
            survival_probability=self.survival_probability,
            mode=self.mode,
            inverted=self.inverted,
            seed=self.seed,
        )
        return config
