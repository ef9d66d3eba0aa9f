"""Audio-visual fusion for piano transcription (thesis ch. 6, "audio-visual fusion"; PAPERS.md §5):
a 3-layer MLP on the audio model's features and the visual model's, per video frame.

Input per frame ``k``: for frames ``k − context … k + context``, four 88-key rows — the visual
model's onset and key-down probabilities and the audio model's (Basic Pitch) onset and note
probabilities — so ``(B, 4, 88, 2·context + 1)``; output: 88 onset logits (an onset within ±1 frame
of ``k``, as the visual model's).  The thesis fuses the two networks' features; here their per-key
outputs are the features, so the fusion can be trained without the networks (they stay frozen)
and works with any visual weights of the same key layout.  No IO here.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["PianoFusion", "CHANNELS"]

CHANNELS = ("visual onset", "visual down", "audio onset", "audio note")


class PianoFusion(nn.Module):
    def __init__(self, context: int = 2, hidden: int = 512, keys: int = 88, visual: str = "piano-lite") -> None:
        super().__init__()
        self.context, self.keys, self.visual = int(context), int(keys), str(visual)
        n_in = len(CHANNELS) * self.keys * (2 * self.context + 1)
        self.mlp = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, hidden // 2),
                                 nn.ReLU(inplace=True), nn.Linear(hidden // 2, self.keys))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 4, keys, 2·context + 1)`` probabilities → ``(B, keys)`` onset logits."""
        if x.shape[1:] != (len(CHANNELS), self.keys, 2 * self.context + 1):
            raise ValueError(f"fusion input must be (B, 4, {self.keys}, {2 * self.context + 1}), not {tuple(x.shape)}")
        return self.mlp(x.flatten(1) * 2 - 1)
