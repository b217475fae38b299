"""Training: paper recipes, the training assembly (`assembly`: build for the data, compile
for a recipe, datasets), strategies, `train()` and its run folders."""

from keras_cnns.training.recipes import PAPER, Recipe, get_recipe
from keras_cnns.training.strategies import make_strategy
from keras_cnns.training.train import (
    TrainingDiverged,
    TrainResult,
    read_run_config,
    train,
)

__all__ = [
    "PAPER",
    "Recipe",
    "TrainResult",
    "TrainingDiverged",
    "get_recipe",
    "make_strategy",
    "read_run_config",
    "train",
]
