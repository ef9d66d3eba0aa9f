"""Registry of named weights: a safetensors file plus a JSON model card, loaded safely."""

from .registry import ModelCard, WeightsEntry, WeightsRegistry, save_weights

__all__ = ["ModelCard", "WeightsEntry", "WeightsRegistry", "save_weights"]
