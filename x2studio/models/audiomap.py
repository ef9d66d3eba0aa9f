"""Audio control of X2Face through its driving vector (thesis §3.4.2; PAPERS.md §1 "Audio").

:class:`VectorFromAudio` — f_a→v: per-frame speech features, standardised with the training set's
mean and spread, → a driving vector by one linear map, fitted by ordinary least squares (the
authors' code used scikit-learn's LinearRegression on standardised features).  No IO here.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["VectorFromAudio"]


class VectorFromAudio(nn.Module):
    """``(B, in_dim)`` speech features → ``(B, dim)`` driving vectors."""

    def __init__(self, in_dim: int = 256, dim: int = 128, features: str = "avsync-face-lite") -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("std", torch.ones(in_dim))
        self.fc = nn.Linear(in_dim, dim)
        self.in_dim, self.dim, self.features = in_dim, dim, features

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return self.fc((a - self.mean) / self.std)
