"""grpo: GRPO post-training for language models.

Public surface: `load_recipe`, `Recipe`, `RecipeError`, `train`, and the pure objective in
`grpo.algorithms`. Everything else is reached through its module.
"""

from grpo.config import Recipe, RecipeError, load_recipe

__version__ = "0.1.0"


def train(recipe: Recipe, *, resume: bool = False):
    """Run a recipe end to end (see grpo.trainer.train)."""
    from grpo.trainer import train as _train

    return _train(recipe, resume=resume)


__all__ = ["Recipe", "RecipeError", "load_recipe", "train", "__version__"]
