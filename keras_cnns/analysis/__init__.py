"""Analysis tools: what a model costs and what the seed's claims amount to.

- `profile(model)`: parameters (trainable / non-trainable), multiply-adds, receptive
  fields, depth and activation memory, per layer and per stage, for any Keras model.
- `receptive_field(model)`: `(size, stride)` of the largest receptive field.
- `compare(names)`: registered models side by side, with published accuracies.
- the seed's claims as functions (`stacked_vs_single_convolution`, `bottleneck_example`,
  `fully_connected_share`, `gap_vs_fully_connected_head`, `asymmetric_factorization`,
  `label_smoothing_targets`, `seed_claims`).
- plots: `plot_architecture`, `plot_training_curves`, `plot_comparison` (PNG files).
"""

from keras_cnns.analysis.claims import (
    AsymmetricFactorization,
    Bottleneck,
    FullyConnectedShare,
    HeadComparison,
    StackedConvolutions,
    asymmetric_factorization,
    bottleneck_example,
    fully_connected_share,
    gap_vs_fully_connected_head,
    label_smoothing_matches_keras,
    label_smoothing_targets,
    seed_claims,
    stacked_vs_single_convolution,
)
from keras_cnns.analysis.compare import PUBLISHED, Comparison, Published, compare
from keras_cnns.analysis.plots import plot_architecture, plot_comparison, plot_training_curves
from keras_cnns.analysis.profile import (
    LayerProfile,
    Profile,
    StageProfile,
    profile,
    receptive_field,
)

__all__ = [
    "AsymmetricFactorization",
    "Bottleneck",
    "Comparison",
    "FullyConnectedShare",
    "HeadComparison",
    "LayerProfile",
    "PUBLISHED",
    "Profile",
    "Published",
    "StackedConvolutions",
    "StageProfile",
    "asymmetric_factorization",
    "bottleneck_example",
    "compare",
    "fully_connected_share",
    "gap_vs_fully_connected_head",
    "label_smoothing_matches_keras",
    "label_smoothing_targets",
    "plot_architecture",
    "plot_comparison",
    "plot_training_curves",
    "profile",
    "receptive_field",
    "seed_claims",
    "stacked_vs_single_convolution",
]
