"""The building blocks of LeNet-5 as LeCun et al. (1998) describe them.

- `scaled_tanh`: the squashing function f(a) = 1.7159 tanh(2a/3) (appendix A).
- `TrainableSubsampling`: S2/S4, the average of each 2x2 window times a trainable
  coefficient plus a trainable bias, one pair per feature map.
- `ConnectionTableConv2D`: C3, a convolution whose output maps each read only the input
  maps a connection table names (Table I); it holds weights for those connections only.
- `EuclideanRBF`: the output layer, y_i = sum_j (x_j - w_ij)^2 with fixed +-1 prototypes.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import keras
from keras import ops

# Table I of the paper: C3 feature map -> the S2 feature maps it reads.
LENET5_C3_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)  # fmt: skip


@keras.saving.register_keras_serializable(package="keras_cnns")
def scaled_tanh(x):
    """LeCun's squashing function 1.7159 * tanh(2x/3): f(1) = 1, f(-1) = -1."""
    return 1.7159 * ops.tanh(x * (2.0 / 3.0))


@keras.saving.register_keras_serializable(package="keras_cnns")
class TrainableSubsampling(keras.layers.Layer):
    """LeNet's subsampling layer: `avg_pool(x) * coefficient + bias`, per feature map.

    Two trainable parameters per map (S2: 6 maps -> 12, S4: 16 maps -> 32). The paper
    sums the four inputs; averaging only rescales the coefficient (initialized to 1).
    The activation is applied by the model, not here.
    """

    def __init__(self, pool_size: int = 2, strides: int | None = None, **kwargs):
        super().__init__(**kwargs)
        for arg, value in (("pool_size", pool_size), ("strides", strides)):
            if value is None and arg == "strides":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{arg}` must be a positive integer; received {value!r}.")
        self.pool_size = pool_size
        self.strides = strides or pool_size
        self._pool = keras.layers.AveragePooling2D(pool_size, self.strides)

    def build(self, input_shape):
        channels = input_shape[-1]
        self.coefficient = self.add_weight(
            name="coefficient", shape=(channels,), initializer="ones"
        )
        self.bias = self.add_weight(name="bias", shape=(channels,), initializer="zeros")
        super().build(input_shape)

    def call(self, inputs):
        return self._pool(inputs) * self.coefficient + self.bias

    def compute_output_shape(self, input_shape):
        return self._pool.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(pool_size=self.pool_size, strides=self.strides)
        return config


@keras.saving.register_keras_serializable(package="keras_cnns")
class ConnectionTableConv2D(keras.layers.Layer):
    """A convolution whose output map `o` reads only the input maps `connection_table[o]`.

    Only the kernels of existing connections are weights (`kernel` has shape
    `(kh, kw, connections)`), so the parameter count is the table's and no gradient
    reaches an absent connection. The full `(kh, kw, in, out)` kernel is assembled from
    them by a fixed 0/1 matrix product, then one ordinary convolution runs.

    Args:
        connection_table: one sequence of input-map indices per output map; the default
            `None` uses LeNet-5's Table I (16 outputs from 6 inputs).
        kernel_size: int or (height, width).
        strides, padding, use_bias, kernel_initializer, bias_initializer: as `Conv2D`.
    """

    def __init__(
        self,
        kernel_size: int | Sequence[int] = 5,
        connection_table: Sequence[Sequence[int]] | None = None,
        strides: int = 1,
        padding: str = "valid",
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        table = LENET5_C3_TABLE if connection_table is None else connection_table
        self.connection_table = self._check_table(table)
        if isinstance(kernel_size, int):
            kernel_size = (kernel_size, kernel_size)
        kernel_size = tuple(kernel_size)
        if len(kernel_size) != 2 or any(
            isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in kernel_size
        ):
            raise ValueError(
                f"`kernel_size` must be a positive int or a pair of them; received {kernel_size!r}."
            )
        if padding not in ("valid", "same"):
            raise ValueError(f"`padding` must be 'valid' or 'same'; received {padding!r}.")
        self.kernel_size = kernel_size
        self.strides = strides
        self.padding = padding
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.filters = len(self.connection_table)

    @staticmethod
    def _check_table(table) -> list[list[int]]:
        try:
            rows = [[int(i) for i in row] for row in table]
        except (TypeError, ValueError) as err:
            raise ValueError(
                "`connection_table` must be a sequence of sequences of input-map indices "
                f"(one per output map); received {table!r}."
            ) from err
        if not rows:
            raise ValueError("`connection_table` must name at least one output map.")
        for out, row in enumerate(rows):
            if not row or len(set(row)) != len(row) or min(row) < 0:
                raise ValueError(
                    f"`connection_table` row {out} ({row!r}) must list distinct input-map "
                    "indices >= 0 and at least one."
                )
        return rows

    def build(self, input_shape):
        in_maps = input_shape[-1]
        highest = max(max(row) for row in self.connection_table)
        if in_maps is None or highest >= in_maps:
            raise ValueError(
                f"`connection_table` reads input map {highest}, but the input has "
                f"{in_maps} maps (indices 0..{(in_maps or 0) - 1} are accepted)."
            )
        pairs = [(i, o) for o, row in enumerate(self.connection_table) for i in row]
        self.connections = len(pairs)
        scatter = np.zeros((self.connections, in_maps * self.filters), dtype="float32")
        for k, (i, o) in enumerate(pairs):
            scatter[k, i * self.filters + o] = 1.0
        self._scatter = scatter
        self._in_maps = in_maps
        kh, kw = self.kernel_size
        fan_shape = (kh, kw, in_maps, self.filters)
        initial = np.asarray(
            keras.ops.convert_to_numpy(self.kernel_initializer(fan_shape)), dtype="float32"
        )
        self.kernel = self.add_weight(
            name="kernel",
            shape=(kh, kw, self.connections),
            initializer=keras.initializers.Constant(
                np.stack([initial[:, :, i, o] for i, o in pairs], axis=-1)
            ),
        )
        self.bias = (
            self.add_weight(name="bias", shape=(self.filters,), initializer=self.bias_initializer)
            if self.use_bias
            else None
        )
        super().build(input_shape)

    def full_kernel(self):
        """The dense `(kh, kw, in, out)` kernel, zero where the table has no connection."""
        kh, kw = self.kernel_size
        flat = ops.reshape(self.kernel, (kh * kw, self.connections))
        dense = ops.matmul(flat, ops.convert_to_tensor(self._scatter, dtype=flat.dtype))
        return ops.reshape(dense, (kh, kw, self._in_maps, self.filters))

    def call(self, inputs):
        outputs = ops.conv(inputs, self.full_kernel(), strides=self.strides, padding=self.padding)
        if self.bias is not None:
            outputs = outputs + self.bias
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            kernel_size=self.kernel_size,
            connection_table=self.connection_table,
            strides=self.strides,
            padding=self.padding,
            use_bias=self.use_bias,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
        )
        return config


@keras.saving.register_keras_serializable(package="keras_cnns")
class EuclideanRBF(keras.layers.Layer):
    """LeNet-5's output layer: one Euclidean radial basis unit per class.

    `y_i = sum_j (x_j - w_ij)^2` with fixed (non-trainable) prototypes `w` of +-1 entries:
    84 per class, 840 for ten classes. The paper drew the digits' prototypes as 7x12
    bitmaps; we draw every prototype at random (the paper's choice for its other
    characters), reproducibly from `seed`. With `negate=True` the layer returns `-y`, so
    a softmax over it is the paper's maximum a posteriori criterion without its constant
    rubbish class. The distances are computed, and returned, in float32 under any dtype
    policy (mixed precision included).
    """

    def __init__(self, units: int = 10, negate: bool = False, seed: int = 1998, **kwargs):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise ValueError(f"`units` must be a positive integer; received {units!r}.")
        self.units = units
        self.negate = bool(negate)
        self.seed = int(seed)

    def build(self, input_shape):
        features = input_shape[-1]
        rng = np.random.default_rng(self.seed)
        prototypes = rng.choice(np.array([-1.0, 1.0], dtype="float32"), size=(features, self.units))
        self.prototypes = self.add_weight(
            name="prototypes",
            shape=(features, self.units),
            initializer=keras.initializers.Constant(prototypes),
            trainable=False,
        )
        super().build(input_shape)

    def call(self, inputs):
        # Distances in float32 under any dtype policy: a sum of 84 squares in bfloat16
        # keeps 8 bits, too few to tell the classes' distances apart. The output is float32.
        inputs = ops.cast(inputs, "float32")
        prototypes = ops.cast(self.prototypes, "float32")
        # |x - w|^2 = |x|^2 - 2 x.w + |w|^2: one matrix product instead of a 3-D broadcast.
        distance = (
            ops.sum(ops.square(inputs), axis=-1, keepdims=True)
            - 2.0 * ops.matmul(inputs, prototypes)
            + ops.sum(ops.square(prototypes), axis=0)
        )
        return -distance if self.negate else distance

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, negate=self.negate, seed=self.seed)
        return config
