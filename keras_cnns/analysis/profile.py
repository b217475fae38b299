"""What a model costs: parameters, multiply-adds, receptive fields and activation memory.

`profile(model)` traces any Keras model (ours, keras.applications', a user's Sequential or
functional model) once on symbolic inputs: nothing is computed and no data is needed. The
trace goes inside custom layers that hold sublayers (our `InceptionBlock`, `ResidualBlock`,
`DenseBlock`, nested models) by running their `call` on the symbolic tensors, so every
convolution is seen with the shape it really gets.

What is counted (torchvision's convention for its published "GFLOPS", which are
multiply-adds):

- multiply-adds (MACs) of convolutions (`Conv1D/2D/3D`, depthwise, separable, transposed,
  LeNet-5's `ConnectionTableConv2D`, `keras.ops.conv`) and of fully connected layers
  (`Dense`, LeNet-5's `EuclideanRBF`, `keras.ops.matmul`): one per weight and output
  position. Biases, batch normalization, activations, pooling and additions are not
  counted. A FLOP count is about twice the MACs.
- receptive field of every tensor with spatial axes, by the standard recursion
  `r_out = r_in + (k - 1) * d * j_in`, `j_out = j_in * s` (kernel k, dilation d, stride s,
  j the distance in input pixels between neighbouring outputs). Padding is ignored, so a
  receptive field can be larger than the image. Where branches meet (addition,
  concatenation) the largest field is kept.
- depth: weighted layers (convolutions and fully connected layers) on the longest path
  from the input to the output: VGG16 16, ResNet-50 50, DenseNet-121 121.
- activation memory for training: the bytes of every tensor the forward pass produces
  (each layer's and each operation's output, and the input), per image. This is what
  backpropagation keeps in the plain implementation; in-place operations or recomputation
  (`DenseBlock(memory_efficient=True)`) keep less.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from typing import Any, Sequence

import keras
import numpy as np

from keras_cnns.keras_internals import (
    graph_state,
    input_layer_names,
    intercept_symbolic_calls,
    restore_graph_state,
    sublayers,
)
from keras_cnns.tables import format_table

ACCEPTED = (
    "a Keras model (keras.Model: functional, Sequential or subclassed, e.g. "
    "keras_cnns.vgg16() or keras.applications.ResNet50(weights=None)) or the name of a "
    "registered model (e.g. 'vgg16')"
)


# ------------------------------------------------------------------------- records
@dataclasses.dataclass(frozen=True)
class Field:
    """The receptive field of one tensor: size and stride per spatial axis, in input
    pixels."""

    size: tuple[float, ...]
    stride: tuple[float, ...]

    @property
    def largest(self) -> tuple[int | float, int | float]:
        return _number(max(self.size)), _number(max(self.stride))


@dataclasses.dataclass(frozen=True)
class LayerProfile:
    """One row of the per-layer table (a layer of the model, custom layers included
    whole: an `InceptionBlock` row sums the convolutions of its branches)."""

    name: str
    type: str
    output_shape: tuple
    trainable_params: int
    non_trainable_params: int
    macs: int
    receptive_field: int | float | None
    rf_stride: int | float | None
    activation_bytes: int
    stage: str

    @property
    def params(self) -> int:
        return self.trainable_params + self.non_trainable_params


@dataclasses.dataclass(frozen=True)
class StageProfile:
    """Consecutive layers of one stage (`block3`, `conv4`, `inception_4a`, ...)."""

    name: str
    layers: int
    output_shape: tuple
    trainable_params: int
    non_trainable_params: int
    macs: int
    receptive_field: int | float | None
    rf_stride: int | float | None
    activation_bytes: int

    @property
    def params(self) -> int:
        return self.trainable_params + self.non_trainable_params


@dataclasses.dataclass(frozen=True)
class Profile:
    """The report of `profile(model)`; `str(report)` is the stage table with totals.

    Attributes:
        name: the model's name.
        input_shape: the input shape profiled (without the batch axis).
        params / trainable_params / non_trainable_params: weight counts (`params` equals
            `model.count_params()`).
        macs: multiply-adds per image (see the module docstring for what is counted).
        depth: weighted layers on the longest path.
        receptive_field / rf_stride: the largest receptive field of any feature map, and
            its stride (both in input pixels).
        activation_memory: bytes per image kept for the backward pass.
        layers: `LayerProfile` rows; stages: `StageProfile` rows.
    """

    name: str
    input_shape: tuple
    params: int
    trainable_params: int
    non_trainable_params: int
    macs: int
    depth: int
    receptive_field: int | float | None
    rf_stride: int | float | None
    activation_memory: int
    layers: tuple[LayerProfile, ...]
    stages: tuple[StageProfile, ...]

    @property
    def gmacs(self) -> float:
        """Multiply-adds per image, in billions (torchvision's "GFLOPS" figure)."""
        return self.macs / 1e9

    def table(self, level: str = "stages") -> str:
        """The per-stage (`level="stages"`) or per-layer (`"layers"`) table with totals."""
        if level not in ("stages", "layers"):
            raise ValueError(f"`level` must be 'stages' or 'layers'; received {level!r}.")
        rows = self.stages if level == "stages" else self.layers
        header = [
            "stage" if level == "stages" else "layer",
            "layers" if level == "stages" else "type",
            "output shape", "trainable", "non-trainable", "multiply-adds", "RF / stride",
            "activations",
        ]
        body = [
            [
                row.name,
                str(row.layers) if level == "stages" else row.type,
                _shape(row.output_shape),
                f"{row.trainable_params:,}",
                f"{row.non_trainable_params:,}",
                f"{row.macs:,}",
                "-" if row.receptive_field is None else f"{row.receptive_field} / {row.rf_stride}",
                _bytes(row.activation_bytes),
            ]
            for row in rows
        ]
        body.append(
            [
                "total", str(len(self.layers)) if level == "stages" else "", _shape(self.input_shape),
                f"{self.trainable_params:,}", f"{self.non_trainable_params:,}",
                f"{self.macs:,}",
                "-" if self.receptive_field is None else f"{self.receptive_field} / {self.rf_stride}",
                _bytes(self.activation_memory),
            ]
        )
        return format_table(body, header, rule_before_last=True)

    def summary_lines(self) -> list[str]:
        rf = "-" if self.receptive_field is None else (
            f"{self.receptive_field} px, stride {self.rf_stride}"
        )
        return [
            f"Model {self.name!r}, input {_shape(self.input_shape)}",
            f"Parameters: {self.params:,} (trainable {self.trainable_params:,}, "
            f"non-trainable {self.non_trainable_params:,})",
            f"Multiply-adds per image: {self.macs:,} ({self.gmacs:.3f} G; convolutions and "
            "fully connected layers)",
            f"Depth (weighted layers on the longest path): {self.depth}",
            f"Largest receptive field: {rf}",
            f"Activation memory per image (training, float32): {_bytes(self.activation_memory)}",
        ]

    def __str__(self) -> str:
        return "\n".join([*self.summary_lines(), "", self.table("stages")])


# ---------------------------------------------------------------------- public API
def profile(model: Any, input_shape: Sequence[int] | None = None) -> Profile:
    """Parameters, multiply-adds, receptive fields and activation memory of a model.

    Args:
        model: a Keras model (functional, Sequential or subclassed; ours,
            keras.applications' or your own), or the name of a registered model (built
            with its defaults).
        input_shape: `(height, width, channels)` to profile at; by default the model's
            own input shape. Needed for subclassed models and for models built with a
            variable input size.

    Returns:
        A `Profile`: `params`, `trainable_params`, `macs`, `layers` (per-layer rows),
        `stages`, `receptive_field`, `activation_memory`, ...; `print(report)` shows the
        stage table with totals and `report.table("layers")` the per-layer table.

    >>> report = profile(keras_cnns.vgg16())
    >>> report.macs, report.receptive_field
    (15470264320, 212)
    """
    model = _as_model(model, "profile")
    shapes = _input_shapes(model, input_shape)
    trace = _Tracer.run(model, shapes)
    return _report(model, shapes, trace)


def receptive_field(
    model: Any, layer: str | None = None, input_shape: Sequence[int] | None = None
) -> tuple[int | float, int | float]:
    """`(size, stride)` of the receptive field, in input pixels.

    Without `layer`, the largest receptive field of any feature map of the model (for a
    classifier: its last feature map, VGG16's `block5_pool` sees 212 pixels with a stride
    of 32); through branches and concatenations the largest branch counts. With `layer`
    (a layer name), the receptive field of that layer's output.

    Raises:
        ValueError: the model has no feature map with spatial axes, or `layer` is unknown.
    """
    model = _as_model(model, "receptive_field")
    shapes = _input_shapes(model, input_shape)
    trace = _Tracer.run(model, shapes)
    if layer is None:
        best = trace.largest_field()
        if best is None:
            raise ValueError(
                f"Model {model.name!r} has no tensor with spatial axes; a receptive field "
                "is defined for convolutional feature maps."
            )
        return best.largest
    names = [call.op.name for call in trace.calls]
    if layer not in names:
        close = difflib.get_close_matches(layer, names, n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(f"Model {model.name!r} has no layer named {layer!r}.{hint}")
    call = trace.calls[names.index(layer)]
    field = trace.field_of(call.outputs)
    if field is None:
        raise ValueError(
            f"Layer {layer!r} outputs {_shape(call.outputs[0].shape[1:])}, which has no "
            "spatial axes; a receptive field is defined for feature maps."
        )
    return field.largest


# ------------------------------------------------------------------------ the trace
@dataclasses.dataclass
class _Call:
    """One call of a layer or operation during the trace."""

    op: Any
    inputs: list
    outputs: list
    macs: int = 0
    weighted: bool = False
    start: int = 0  # records of leaf operations inside this call: [start, end)
    end: int = 0


class _Tracer:
    def __init__(self):
        self.records: list[_Call] = []  # leaf layers and operations, in call order
        self.calls: list[_Call] = []  # the calls directly inside the root model
        self.depth = 0  # how many composite layers enclose the current call
        self.fields: dict[int, Field | None] = {}
        self.depths: dict[int, int] = {}
        self._keep: list = []  # tensors whose id() is a key above

    @classmethod
    def run(cls, model: keras.Model, shapes: list[tuple]) -> "_Tracer":
        tracer = cls()
        inputs = [keras.KerasTensor((None, *shape), dtype=dtype) for shape, dtype in shapes]
        for tensor in inputs:
            spatial = len(tensor.shape) - 2
            field = Field((1,) * spatial, (1,) * spatial) if spatial >= 1 else None
            tracer._set(tensor, field, 0)
        tracer.inputs = inputs
        # Calling the model on symbolic tensors adds graph nodes: the trace takes them away
        # again and leaves the model as it found it.
        saved = graph_state(model)
        try:
            with intercept_symbolic_calls(tracer.call):
                outputs = model(inputs[0] if len(inputs) == 1 else inputs)
        finally:
            restore_graph_state(saved)
        tracer.outputs = _symbolic(outputs)
        return tracer

    # -- tensors
    def _set(self, tensor, field, depth):
        self.fields[id(tensor)] = field
        self.depths[id(tensor)] = depth
        self._keep.append(tensor)

    def field_of(self, tensors) -> Field | None:
        fields = [self.fields.get(id(t)) for t in tensors]
        fields = [f for f in fields if f is not None]
        if not fields:
            return None
        rank = max(len(f.size) for f in fields)
        fields = [f for f in fields if len(f.size) == rank]
        return Field(
            tuple(max(f.size[a] for f in fields) for a in range(rank)),
            tuple(max(f.stride[a] for f in fields) for a in range(rank)),
        )

    def depth_of(self, tensors) -> int:
        return max((self.depths.get(id(t), 0) for t in tensors), default=0)

    def largest_field(self) -> Field | None:
        best = None
        for tensor in self._keep:
            field = self.fields.get(id(tensor))
            # Largest first by its largest axis, then by all axes (an n x 1 window
            # followed by a 1 x n one ends at n x n).
            if field is not None and (
                best is None or (max(field.size), sum(field.size)) > (max(best.size), sum(best.size))
            ):
                best = field
        return best

    # -- calls
    def call(self, op, args, kwargs, original):
        """Keras calls this for every layer and operation on symbolic tensors during the
        trace; `original` is Keras' own symbolic call."""
        inputs = _symbolic((args, kwargs))
        if type(op).__name__ in _TRANSPARENT:
            outputs = original(op, *args, **kwargs)
            for tensor in keras.tree.flatten(outputs):
                self._set(tensor, self.field_of(inputs), self.depth_of(inputs))
            return outputs
        start = len(self.records)
        outputs = None
        if _is_composite(op):
            self.depth += 1
            try:
                outputs = op.call(*args, **kwargs)
            except Exception:  # noqa: BLE001 - a layer that cannot run on symbolic tensors
                # is profiled as one opaque operation (its parameters still count).
                del self.records[start:]
                outputs = None
            finally:
                self.depth -= 1
        if outputs is None:
            outputs = original(op, *args, **kwargs)
            self._leaf(op, args, inputs, outputs)
        flat = _symbolic(outputs)
        if self.depth == 1:  # directly inside the root model
            record = _Call(op, inputs, flat, start=start, end=len(self.records))
            record.macs = sum(r.macs for r in self.records[start:])
            self.calls.append(record)
        return outputs

    def _leaf(self, op, args, inputs, outputs):
        flat = _symbolic(outputs)
        macs, window = _macs_and_window(op, args, inputs, flat)
        record = _Call(op, inputs, flat, macs=macs, weighted=macs > 0)
        self.records.append(record)
        field_in = self.field_of(inputs)
        depth = self.depth_of(inputs) + (1 if record.weighted else 0)
        for tensor in flat:
            self._set(tensor, _next_field(field_in, inputs, tensor, window, op), depth)


# Functional models convert their inputs with `ops.convert_to_tensor`: the same tensor,
# not a layer of the model.
_TRANSPARENT = ("ConvertToTensor",)


def _is_composite(op) -> bool:
    return isinstance(op, keras.layers.Layer) and bool(sublayers(op))


def _symbolic(structure) -> list:
    return [t for t in keras.tree.flatten(structure) if isinstance(t, keras.KerasTensor)]


# ------------------------------------------------------- multiply-adds and windows
def _size(shape) -> int:
    return int(np.prod([d for d in shape], dtype=np.int64)) if shape else 1


def _spatial(shape, data_format) -> tuple:
    return tuple(shape[2:] if data_format == "channels_first" else shape[1:-1])


def _kernels(layer) -> list:
    return [w for w in layer.weights if "kernel" in w.name]


def _tuple(value, rank) -> tuple:
    if isinstance(value, (list, tuple)):
        return tuple(int(v) for v in value)
    return (int(value),) * rank


# Keras' convolution and pooling layers, by their public classes (GroupedConv2D and other
# subclasses of these count too).
_TRANSPOSED_CONVOLUTIONS = (
    keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose,
)
_CONVOLUTIONS = (
    keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D,
    keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv1D, keras.layers.SeparableConv2D,
)
_POOLING = (
    keras.layers.MaxPooling1D, keras.layers.MaxPooling2D, keras.layers.MaxPooling3D,
    keras.layers.AveragePooling1D, keras.layers.AveragePooling2D, keras.layers.AveragePooling3D,
)


def _macs_and_window(op, args, inputs, outputs):
    """Multiply-adds of one call, and its sliding window `(kernel, strides, dilation,
    transposed)` per spatial axis (None for layers that keep positions)."""
    if not outputs or any(d is None for d in outputs[0].shape[1:]):
        return 0, None
    out_shape = outputs[0].shape
    data_format = getattr(op, "data_format", "channels_last")
    rank = len(out_shape) - 2
    name = type(op).__name__
    if isinstance(op, _TRANSPOSED_CONVOLUTIONS):
        spatial_in = _spatial(inputs[0].shape, data_format)
        macs = _size(spatial_in) * sum(_size(k.shape) for k in _kernels(op))
        window = (_tuple(op.kernel_size, rank), _tuple(op.strides, rank),
                  _tuple(op.dilation_rate, rank), True)
        return macs, window
    if isinstance(op, _CONVOLUTIONS):
        macs = _size(_spatial(out_shape, data_format)) * sum(_size(k.shape) for k in _kernels(op))
        window = (_tuple(op.kernel_size, rank), _tuple(op.strides, rank),
                  _tuple(op.dilation_rate, rank), False)
        return macs, window
    if isinstance(op, keras.layers.Dense):
        return _size(out_shape[1:-1]) * _size(op.kernel.shape), None
    if name == "ConnectionTableConv2D":  # LeNet-5's C3: only the table's connections
        macs = _size(out_shape[1:-1]) * _size(op.kernel.shape)
        return macs, (_tuple(op.kernel_size, 2), _tuple(op.strides, 2), (1, 1), False)
    if name == "EuclideanRBF":  # LeNet-5's output: one (x - w)^2 per weight
        return _size(out_shape[1:-1]) * _size(op.prototypes.shape), None
    if isinstance(op, _POOLING):
        return 0, (_tuple(op.pool_size, rank), _tuple(op.strides, rank), (1,) * rank, False)
    if isinstance(op, keras.layers.Layer):
        return 0, None
    # keras.ops called inside a custom layer's call()
    if name in ("Conv", "DepthwiseConv") and len(args) > 1:
        kernel = args[1]
        data_format = getattr(op, "data_format", None) or "channels_last"
        macs = _size(_spatial(out_shape, data_format)) * _size(kernel.shape)
        strides = getattr(op, "strides", 1)
        dilation = getattr(op, "dilation_rate", 1)
        return macs, (tuple(kernel.shape[:rank]), _tuple(strides, rank), _tuple(dilation, rank), False)
    if name in ("MaxPool", "AveragePool"):
        strides = op.strides if op.strides is not None else op.pool_size
        return 0, (_tuple(op.pool_size, rank), _tuple(strides, rank), (1,) * rank, False)
    if name == "Matmul" and len(args) > 1:
        return _size(out_shape[1:]) * int(args[0].shape[-1]), None
    return 0, None


def _next_field(field_in, inputs, tensor, window, op) -> Field | None:
    rank = len(tensor.shape) - 2
    if field_in is None or rank < 1 or len(field_in.size) != rank:
        return None
    size, stride = list(field_in.size), list(field_in.stride)
    if window is not None:
        kernel, strides, dilation, transposed = window
        for a in range(rank):
            if transposed:
                stride[a] = stride[a] / strides[a]
                size[a] = size[a] + (kernel[a] - 1) * dilation[a] * stride[a]
            else:
                size[a] = size[a] + (kernel[a] - 1) * dilation[a] * stride[a]
                stride[a] = stride[a] * strides[a]
        return Field(tuple(size), tuple(stride))
    if isinstance(op, (keras.layers.ZeroPadding1D, keras.layers.ZeroPadding2D,
                       keras.layers.ZeroPadding3D, keras.layers.Cropping1D,
                       keras.layers.Cropping2D, keras.layers.Cropping3D)):
        return field_in
    # Any other change of the spatial size (strided slicing, resizing): scale the stride
    # by the size ratio, as a 1x1 window would.
    data_format = getattr(op, "data_format", "channels_last")
    source = next((t for t in inputs if len(t.shape) == len(tensor.shape)), None)
    if source is None:
        return field_in
    before, after = _spatial(source.shape, data_format), _spatial(tensor.shape, data_format)
    for a in range(rank):
        if before[a] and after[a] and before[a] != after[a]:
            stride[a] = stride[a] * before[a] / after[a]
    return Field(tuple(size), tuple(stride))


# --------------------------------------------------------------------- the report
def _report(model, shapes, trace: _Tracer) -> Profile:
    counted: set[int] = set()
    rows: list[LayerProfile] = []
    input_layers = _input_layers(model)
    for tensor, layer_name in zip(trace.inputs, input_layers):
        rows.append(
            LayerProfile(
                name=layer_name, type="InputLayer", output_shape=tuple(tensor.shape[1:]),
                trainable_params=0, non_trainable_params=0, macs=0,
                receptive_field=None if trace.fields[id(tensor)] is None else 1,
                rf_stride=None if trace.fields[id(tensor)] is None else 1,
                activation_bytes=_tensor_bytes(tensor), stage="",
            )
        )
    for call in trace.calls:
        trainable = non_trainable = 0
        if isinstance(call.op, keras.layers.Layer):
            for weight in call.op.weights:
                if id(weight) in counted:
                    continue
                counted.add(id(weight))
                if weight.trainable:
                    trainable += _size(weight.shape)
                else:
                    non_trainable += _size(weight.shape)
        inner = trace.records[call.start:call.end]
        produced = [t for record in inner for t in record.outputs]
        field = trace.field_of(call.outputs)
        size, stride = field.largest if field is not None else (None, None)
        rows.append(
            LayerProfile(
                name=call.op.name,
                type=type(call.op).__name__,
                output_shape=_output_shape(call.outputs),
                trainable_params=trainable,
                non_trainable_params=non_trainable,
                macs=call.macs,
                receptive_field=size,
                rf_stride=stride,
                activation_bytes=sum(_tensor_bytes(t) for t in produced),
                stage="",
            )
        )
    rows = _assign_stages(rows)
    trainable_total = sum(_size(w.shape) for w in _unique(model.trainable_weights))
    total = sum(_size(w.shape) for w in _unique(model.weights))
    best = trace.largest_field()
    size, stride = best.largest if best is not None else (None, None)
    return Profile(
        name=model.name,
        input_shape=shapes[0][0] if len(shapes) == 1 else tuple(s for s, _ in shapes),
        params=total,
        trainable_params=trainable_total,
        non_trainable_params=total - trainable_total,
        macs=sum(record.macs for record in trace.records),
        depth=trace.depth_of(trace.outputs),
        receptive_field=size,
        rf_stride=stride,
        activation_memory=sum(row.activation_bytes for row in rows),
        layers=tuple(rows),
        stages=tuple(_stages(rows)),
    )


def _unique(weights) -> list:
    seen, result = set(), []
    for weight in weights:
        if id(weight) not in seen:
            seen.add(id(weight))
            result.append(weight)
    return result


def _input_layers(model) -> list[str]:
    try:
        return input_layer_names(model)
    except (AttributeError, TypeError, ValueError):
        return ["input"]


def _tensor_bytes(tensor) -> int:
    if any(d is None for d in tensor.shape[1:]):
        return 0
    itemsize = np.dtype(keras.backend.standardize_dtype(tensor.dtype)).itemsize
    return _size(tensor.shape[1:]) * itemsize


def _output_shape(outputs) -> tuple:
    if len(outputs) == 1:
        return tuple(outputs[0].shape[1:])
    return tuple(tuple(t.shape[1:]) for t in outputs)


def _snake_case(name: str) -> str:
    """A class name as Keras spells it in automatic layer names: `Conv2D` -> `conv2d`,
    `BatchNormalization` -> `batch_normalization` (Keras' naming rule)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


# Keras' automatic names ("conv2d_12", "batch_normalization_3", "activation"): no stage.
def _auto_name(layer_type: str, name: str) -> bool:
    snake = _snake_case(layer_type)
    return re.fullmatch(rf"{re.escape(snake)}(_\d+)?", name) is not None


def stage_key(name: str, layer_type: str = "") -> str | None:
    """The stage a layer belongs to, from its name: the name up to its first part with a
    digit (`block3_conv2` -> `block3`, `conv4_block2_1_conv` -> `conv4`, `inception_4a`
    -> `inception_4a`, `conv_2b_3x3_bn` -> `conv_2b`); None for names without one
    (`flatten`, `predictions`) and for Keras' automatic names (`conv2d_3`)."""
    if layer_type and _auto_name(layer_type, name):
        return None
    parts = name.split("_")
    for index, part in enumerate(parts):
        if any(ch.isdigit() for ch in part):
            return "_".join(parts[: index + 1])
    return None


def _assign_stages(rows: list[LayerProfile]) -> list[LayerProfile]:
    # A layer without a stage of its own joins the next named stage (Keras-named layers
    # of keras.applications' Inception v3 join the `mixedN` that ends their module);
    # layers after the last named stage form the "head".
    keys = [stage_key(row.name, row.type) for row in rows]
    assigned: list[str] = [""] * len(rows)
    upcoming = "head"
    for index in range(len(rows) - 1, -1, -1):
        if keys[index] is not None:
            upcoming = keys[index]
        assigned[index] = upcoming
    return [dataclasses.replace(row, stage=stage) for row, stage in zip(rows, assigned)]


def _stages(rows: list[LayerProfile]) -> list[StageProfile]:
    stages: list[list[LayerProfile]] = []
    for row in rows:
        if stages and stages[-1][0].stage == row.stage:
            stages[-1].append(row)
        else:
            stages.append([row])
    result = []
    for group in stages:
        last_with_field = next((r for r in reversed(group) if r.receptive_field is not None), None)
        result.append(
            StageProfile(
                name=group[0].stage,
                layers=len(group),
                output_shape=group[-1].output_shape,
                trainable_params=sum(r.trainable_params for r in group),
                non_trainable_params=sum(r.non_trainable_params for r in group),
                macs=sum(r.macs for r in group),
                receptive_field=None if last_with_field is None else last_with_field.receptive_field,
                rf_stride=None if last_with_field is None else last_with_field.rf_stride,
                activation_bytes=sum(r.activation_bytes for r in group),
            )
        )
    return result


# ------------------------------------------------------------------------ helpers
def _as_model(model: Any, function: str) -> keras.Model:
    if isinstance(model, str):
        from keras_cnns.models import get_model

        return get_model(model)
    if isinstance(model, keras.Model):
        return model
    received = f"{type(model).__module__}.{type(model).__qualname__}"
    if isinstance(model, keras.layers.Layer):
        hint = " (a layer, not a model: wrap it, e.g. keras.Sequential([keras.Input(shape), layer]))"
    else:
        hint = ""
    raise TypeError(f"{function}() takes {ACCEPTED}; received an object of type {received}{hint}.")


def _input_shapes(model: keras.Model, input_shape) -> list[tuple[tuple, str]]:
    if input_shape is not None:
        shape = tuple(input_shape)
        if not shape or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in shape):
            raise ValueError(
                f"`input_shape` must be a tuple of positive ints such as (224, 224, 3); "
                f"received {input_shape!r}."
            )
        return [(shape, "float32")]
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs:
        raise ValueError(
            f"Model {model.name!r} has no known input (a subclassed model); pass "
            "input_shape=(height, width, channels)."
        )
    shapes = []
    for tensor in inputs:
        shape = tuple(tensor.shape[1:])
        if any(d is None for d in shape):
            raise ValueError(
                f"Model {model.name!r} takes inputs of variable size {shape}; pass "
                "input_shape=(height, width, channels) to profile it at one size."
            )
        shapes.append((shape, tensor.dtype))
    return shapes


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(float(value), 3)


def _shape(shape) -> str:
    if shape and isinstance(shape[0], tuple):
        return " + ".join(_shape(s) for s in shape)
    return "x".join("?" if d is None else str(d) for d in shape)


def _bytes(count: int) -> str:
    if count >= 1 << 20:
        return f"{count / (1 << 20):.2f} MiB"
    if count >= 1 << 10:
        return f"{count / (1 << 10):.1f} KiB"
    return f"{count} B"
