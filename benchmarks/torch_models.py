"""The benchmarked architectures in plain PyTorch (eager), for the reference timings.

Each builder returns an `nn.Module` with exactly the trainable parameters of the keras_cnns
model of the same name and options (`benchmarks/throughput.py` counts both and refuses to
compare when they differ), taking NCHW images and returning logits (the Keras models end
in a softmax; the losses differ only in where the softmax is taken). The package itself
does not depend on PyTorch.

torchvision's definitions (0.28.0, imported through `benchmarks.torchvision_shim`) where
torchvision has the architecture keras_cnns builds by default, configured to be that
architecture:

- `vgg11`: `torchvision.models.vgg11`, with the first fc reading the flattened last
  feature map (keras_cnns' VGG has no adaptive pooling to 7x7);
- `resnet50`: `torchvision.models.resnet50` as it is ("v1.5", keras_cnns' default: no
  conv bias, stride on the 3x3);
- `densenet_bc100`: `torchvision.models.DenseNet(growth_rate=12, block_config=(16, 16, 16),
  num_init_features=24, bn_size=4)` with the CIFAR stem (one 3x3 convolution) in place of
  the ImageNet one: BN-ReLU-conv1x1(4k)-BN-ReLU-conv3x3(k) dense layers, compression 0.5.

Written here, because torchvision has no such architecture:

- `lenet5(variant="paper")`: scaled tanh, trainable subsampling, the C3 connection table
  (a dense kernel assembled from the table's weights, as `ConnectionTableConv2D` does),
  the fixed Euclidean RBF output; `variant="modern"`: ReLU, max pooling, dense output.
- `alexnet`: the paper's two-tower layout (groups=2 in conv2/4/5), LRN after conv1 and
  conv2 (PyTorch's `LocalResponseNorm` divides alpha by the window size, so alpha=5e-4
  here is the paper's 1e-4), overlapping 3x3/2 max pooling, fc 4096-4096 (torchvision's
  AlexNet is the one-tower 64-192-384-256-256 network without LRN).
- `googlenet`: Table 1 of Szegedy et al., conv biases, true 5x5 branches, LRN (Caffe's
  k=1), no batch normalization and no auxiliary heads (keras_cnns' defaults; torchvision's
  GoogLeNet has batch normalization, 3x3 kernels in its "5x5" branches and no LRN).
- `resnet20`: CIFAR ResNet with option A shortcuts (subsampled, zero-padded identity),
  post-activation.

Batch normalization everywhere uses Keras' moving-average momentum (PyTorch's 0.01).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LENET5_C3_TABLE = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)  # fmt: skip


# ---------------------------------------------------------------------------- LeNet-5
def scaled_tanh(x: torch.Tensor) -> torch.Tensor:
    return 1.7159 * torch.tanh(x * (2.0 / 3.0))


class TrainableSubsampling(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.coefficient = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x):
        return F.avg_pool2d(x, 2) * self.coefficient + self.bias


class ConnectionTableConv(nn.Module):
    def __init__(self, table=LENET5_C3_TABLE, in_maps: int = 6, kernel: int = 5):
        super().__init__()
        pairs = [(i, o) for o, row in enumerate(table) for i in row]
        self.out_maps, self.in_maps, self.kernel_size = len(table), in_maps, kernel
        scatter = torch.zeros(len(pairs), self.out_maps * in_maps)
        for k, (i, o) in enumerate(pairs):
            scatter[k, o * in_maps + i] = 1.0
        self.register_buffer("scatter", scatter)
        self.weight = nn.Parameter(torch.randn(len(pairs), kernel * kernel) * 0.1)
        self.bias = nn.Parameter(torch.zeros(self.out_maps))

    def forward(self, x):
        dense = (self.weight.t() @ self.scatter).t()  # (out*in, kh*kw)
        kernel = dense.reshape(self.out_maps, self.in_maps, self.kernel_size, self.kernel_size)
        return F.conv2d(x, kernel, self.bias)


class EuclideanRBF(nn.Module):
    def __init__(self, features: int, units: int):
        super().__init__()
        prototypes = torch.randint(0, 2, (features, units)).float() * 2 - 1
        self.register_buffer("prototypes", prototypes)

    def forward(self, x):
        distance = (
            x.square().sum(-1, keepdim=True)
            - 2.0 * x @ self.prototypes
            + self.prototypes.square().sum(0)
        )
        return -distance


class LeNet5(nn.Module):
    def __init__(self, num_classes: int = 10, variant: str = "paper"):
        super().__init__()
        self.variant = variant
        self.c1 = nn.Conv2d(1, 6, 5)
        self.c5 = nn.Conv2d(16, 120, 5)
        self.f6 = nn.Linear(120, 84)
        if variant == "paper":
            self.s2, self.s4 = TrainableSubsampling(6), TrainableSubsampling(16)
            self.c3 = ConnectionTableConv()
            self.output = EuclideanRBF(84, num_classes)
        else:
            self.c3 = nn.Conv2d(6, 16, 5)
            self.output = nn.Linear(84, num_classes)

    def forward(self, x):
        if self.variant == "paper":
            x = scaled_tanh(self.s2(scaled_tanh(self.c1(x))))
            x = scaled_tanh(self.s4(scaled_tanh(self.c3(x))))
            x = scaled_tanh(self.f6(torch.flatten(scaled_tanh(self.c5(x)), 1)))
        else:
            x = F.max_pool2d(F.relu(self.c1(x)), 2)
            x = F.max_pool2d(F.relu(self.c3(x)), 2)
            x = F.relu(self.f6(torch.flatten(F.relu(self.c5(x)), 1)))
        return self.output(x)


# ---------------------------------------------------------------------------- AlexNet
class AlexNet(nn.Module):
    def __init__(self, num_classes: int = 10, input_size: int = 96):
        super().__init__()
        widths, groups = (96, 256, 384, 384, 256), (1, 2, 1, 2, 2)
        lrn = lambda: nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)  # noqa: E731
        self.features = nn.Sequential(
            nn.Conv2d(3, widths[0], 11, stride=4), nn.ReLU(inplace=True), lrn(),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(widths[0], widths[1], 5, padding=2, groups=groups[1]), nn.ReLU(inplace=True),
            lrn(), nn.MaxPool2d(3, 2),
            nn.Conv2d(widths[1], widths[2], 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(widths[2], widths[3], 3, padding=1, groups=groups[3]), nn.ReLU(inplace=True),
            nn.Conv2d(widths[3], widths[4], 3, padding=1, groups=groups[4]), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
        )
        with torch.no_grad():
            flat = self.features(torch.zeros(1, 3, input_size, input_size)).numel()
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(flat, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5),
            nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


# -------------------------------------------------------------------------- GoogLeNet
def _conv_relu(cin: int, cout: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2), nn.ReLU(inplace=True))


class Inception(nn.Module):
    def __init__(self, cin, n1, r3, n3, r5, n5, pool_proj):
        super().__init__()
        self.b1 = _conv_relu(cin, n1, 1)
        self.b2 = nn.Sequential(_conv_relu(cin, r3, 1), _conv_relu(r3, n3, 3))
        self.b3 = nn.Sequential(_conv_relu(cin, r5, 1), _conv_relu(r5, n5, 5))
        self.b4 = nn.Sequential(nn.MaxPool2d(3, 1, padding=1), _conv_relu(cin, pool_proj, 1))

    def forward(self, x):
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)


class GoogLeNet(nn.Module):
    TABLE_1 = (
        (64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64), "pool",
        (192, 96, 208, 16, 48, 64), (160, 112, 224, 24, 64, 64), (128, 128, 256, 24, 64, 64),
        (112, 144, 288, 32, 64, 64), (256, 160, 320, 32, 128, 128), "pool",
        (256, 160, 320, 32, 128, 128), (384, 192, 384, 48, 128, 128),
    )

    def __init__(self, num_classes: int = 10):
        super().__init__()
        lrn = lambda: nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)  # noqa: E731
        pool = lambda: nn.MaxPool2d(3, 2, padding=1)  # noqa: E731
        layers = [
            _conv_relu(3, 64, 7, 2), pool(), lrn(),
            _conv_relu(64, 64, 1), _conv_relu(64, 192, 3), lrn(), pool(),
        ]
        channels = 192
        for row in self.TABLE_1:
            if row == "pool":
                layers.append(pool())
                continue
            layers.append(Inception(channels, *row))
            channels = row[0] + row[2] + row[4] + row[5]
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(0.4)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.features(x), 1).flatten(1)
        return self.fc(self.dropout(x))


# ---------------------------------------------------------------------------- ResNets
def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=1e-5, momentum=0.01)  # Keras' momentum 0.99


class BasicBlockA(nn.Module):
    """Post-activation basic block with the option-A (zero-padded identity) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = _bn(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = _bn(cout)
        self.stride, self.extra = stride, cout - cin

    def forward(self, x):
        shortcut = x[:, :, :: self.stride, :: self.stride] if self.stride > 1 else x
        if self.extra:
            before = self.extra // 2
            shortcut = F.pad(shortcut, (0, 0, 0, 0, before, self.extra - before))
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + shortcut)


class ResNetCifar(nn.Module):
    def __init__(self, depth: int = 20, num_classes: int = 10):
        super().__init__()
        n = (depth - 2) // 6
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), _bn(16), nn.ReLU(inplace=True))
        blocks, channels = [], 16
        for stage, width in enumerate((16, 32, 64)):
            for block in range(n):
                stride = 2 if stage > 0 and block == 0 else 1
                blocks.append(BasicBlockA(channels, width, stride))
                channels = width
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


# --------------------------------------------------- torchvision's, configured to match
def _torchvision_models():
    from benchmarks.torchvision_shim import import_torchvision

    return import_torchvision().models


def _keras_batch_norm_momentum(model: nn.Module) -> nn.Module:
    """Every BatchNorm2d with Keras' moving-average momentum (as `_bn`)."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = 0.01
    return model


def vgg11(num_classes: int = 10, input_size: int = 32) -> nn.Module:
    """torchvision's VGG-11 (configuration A, fc 4096-4096, dropout 0.5) with the classifier
    reading the flattened last feature map, as keras_cnns' VGG does: torchvision's
    `AdaptiveAvgPool2d((7, 7))` (which would copy a 1x1 map of a 32x32 input 49 times into
    a 25,088-wide first fc) is removed and the first fc sized for the map."""
    model = _torchvision_models().vgg11(num_classes=num_classes)
    model.avgpool = nn.Identity()
    model.classifier[0] = nn.Linear(512 * (input_size // 32) ** 2, 4096)
    return model


def resnet50(num_classes: int = 10) -> nn.Module:
    """torchvision's ResNet-50 (v1.5: stride on the 3x3, no conv bias), as it is."""
    return _keras_batch_norm_momentum(_torchvision_models().resnet50(num_classes=num_classes))


def densenet_bc(depth: int = 100, growth: int = 12, num_classes: int = 10) -> nn.Module:
    """torchvision's `DenseNet` class as DenseNet-BC for CIFAR (Huang et al., Table 2): three
    dense blocks of (depth - 4) / 6 bottleneck layers (BN-ReLU-conv1x1(4k)-BN-ReLU-conv3x3(k)),
    transitions with compression 0.5, 2k channels from the stem, final BN-ReLU, global
    average pooling. torchvision's ImageNet stem (7x7/2 conv, BN, ReLU, 3x3/2 max pooling)
    becomes the CIFAR one: a single 3x3 convolution."""
    n = (depth - 4) // 6
    model = _torchvision_models().DenseNet(
        growth_rate=growth, block_config=(n, n, n), num_init_features=2 * growth, bn_size=4,
        num_classes=num_classes,
    )
    model.features.conv0 = nn.Conv2d(3, 2 * growth, 3, 1, 1, bias=False)
    for name in ("norm0", "relu0", "pool0"):
        setattr(model.features, name, nn.Identity())
    return _keras_batch_norm_momentum(model)


BUILDERS = {
    "lenet5": lambda size, classes, **o: LeNet5(classes, variant=o.get("variant", "paper")),
    "alexnet": lambda size, classes, **o: AlexNet(classes, size),
    "vgg11": lambda size, classes, **o: vgg11(classes, size),
    "googlenet": lambda size, classes, **o: GoogLeNet(classes),
    "resnet20": lambda size, classes, **o: ResNetCifar(20, classes),
    "resnet50": lambda size, classes, **o: resnet50(classes),
    "densenet_bc100": lambda size, classes, **o: densenet_bc(100, 12, classes),
}

# Where each PyTorch reference comes from (recorded with each throughput row).
REFERENCES = {
    "lenet5": "hand-written",
    "alexnet": "hand-written (two towers, LRN)",
    "vgg11": "torchvision.models.vgg11, fc on the flattened feature map",
    "googlenet": "hand-written (paper: biases, 5x5, LRN, no BN)",
    "resnet20": "hand-written (CIFAR, option A)",
    "resnet50": "torchvision.models.resnet50",
    "densenet_bc100": "torchvision.models.DenseNet, CIFAR stem",
}
assert set(REFERENCES) == set(BUILDERS)


def build(name: str, input_size: int, num_classes: int = 10, **options) -> nn.Module:
    """The PyTorch model `name` (a key of `BUILDERS`) for square inputs of `input_size`."""
    return BUILDERS[name](input_size, num_classes, **options)


def count_trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
