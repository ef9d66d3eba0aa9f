"""Visual pitch estimation for the violin (thesis ch. 5; PAPERS.md §4).

Both networks are VGG-M-like: two 7×7 convolutions (VGG-M's first has stride 2 too: here both do),
each followed by BatchNorm, ReLU and 2×2 max-pooling, then three 3×3 convolutions and max-pooling,
then the "last three 1×1" layers — fc6, fc7 (``fc`` wide, ReLU) and fc8 (the classes) — which are
fully connected on the pooled map (a 1×1 convolution on a 1×1 map is the same thing).

- :class:`PitchTeacher`: a log-magnitude STFT window (``bins`` × ``steps``) → pitch class.
- :class:`PitchStudent`: video frames (``height`` × ``width`` RGB) → pitch class; with ``frames=5``
  the first convolution runs on each frame (shared weights) and its outputs are fused by a 3-D
  convolution over (5 frames × 3 × 3) + BatchNorm + ReLU, as in the thesis (computed as the
  equivalent 2-D convolution over the stacked frames' channels).

Classes: 0 = no note (silence, bow lifted, no violin), then MIDI 55 (G3) … 88 (E6): 35 in all.
``forward`` returns the logits; ``forward_features`` returns (fc6, fc7, fc8) for distillation.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["PitchTeacher", "PitchStudent", "LOWEST", "HIGHEST", "N_CLASSES", "class_of_midi", "midi_of_class",
           "SPEC_RATE", "SPEC_HOP", "SPEC_FFT", "log_spectrogram", "distillation_loss"]

LOWEST, HIGHEST = 55, 88
N_CLASSES = HIGHEST - LOWEST + 2          # + "no note"
SPEC_RATE, SPEC_FFT, SPEC_HOP = 16000, 2048, 160


def class_of_midi(midi, voiced=None) -> torch.Tensor:
    """Class indices for fractional MIDI pitches (0 where unvoiced, out of range or ≤ 0)."""
    m = torch.as_tensor(midi, dtype=torch.float32)
    r = torch.round(m).long()
    ok = (r >= LOWEST) & (r <= HIGHEST) & (m > 0)
    if voiced is not None:
        ok &= torch.as_tensor(voiced, dtype=torch.bool)
    return torch.where(ok, r - LOWEST + 1, torch.zeros_like(r))


def midi_of_class(cls) -> torch.Tensor:
    """MIDI numbers for class indices (0 for "no note")."""
    c = torch.as_tensor(cls).long()
    return torch.where(c > 0, c + LOWEST - 1, torch.zeros_like(c))


def log_spectrogram(samples_16k: torch.Tensor, bins: int) -> torch.Tensor:
    """(n_steps, bins) log(1 + |STFT|) of mono 16-kHz audio, one step every 10 ms (step j centred at
    j · 10 ms), the teacher's input."""
    x = torch.as_tensor(samples_16k, dtype=torch.float32)
    spec = torch.stft(x, SPEC_FFT, SPEC_HOP, window=torch.hann_window(SPEC_FFT), center=True, return_complex=True)
    return torch.log1p(spec.abs()[:bins].T * 10.0)


def _block(c_in: int, c_out: int, k: int, stride: int, pool: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, k, stride, k // 2, bias=False), nn.BatchNorm2d(c_out),
                               nn.ReLU(inplace=True)]
    if pool:
        layers.append(nn.MaxPool2d(2, ceil_mode=True))
    return layers


class _VGGM(nn.Module):
    """conv2 … conv5 and fc6 … fc8 (conv1 is the subclass' own)."""

    def _trunk(self, base: int, fc: int, in_hw: tuple[int, int]) -> None:
        self.conv2_5 = nn.Sequential(*_block(base, 2 * base, 7, 2, True), *_block(2 * base, 4 * base, 3, 1, False),
                                     *_block(4 * base, 4 * base, 3, 1, False), *_block(4 * base, 4 * base, 3, 1, True))
        with torch.no_grad():
            n = self.conv2_5(torch.zeros(1, base, *in_hw)).numel()
        self.fc6 = nn.Linear(n, fc)
        self.fc7 = nn.Linear(fc, fc)
        self.fc8 = nn.Linear(fc, N_CLASSES)
        self.drop = nn.Dropout(0.3)

    def _head(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.conv2_5(x).flatten(1)
        f6 = self.fc6(x)
        f7 = self.fc7(self.drop(torch.relu(f6)))
        f8 = self.fc8(self.drop(torch.relu(f7)))
        return f6, f7, f8

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)[2]


class PitchTeacher(_VGGM):
    """Spectrogram window (B, steps, bins) or (B, 1, bins, steps) → logits (B, 35)."""

    arch = "violin-teacher"

    def __init__(self, bins: int = 256, steps: int = 16, base: int = 16, fc: int = 256) -> None:
        super().__init__()
        self.bins, self.steps, self.base, self.fc = int(bins), int(steps), int(base), int(fc)
        self.conv1 = nn.Sequential(*_block(1, base, 7, 2, True))
        with torch.no_grad():
            hw = self.conv1(torch.zeros(1, 1, bins, steps)).shape[-2:]
        self._trunk(base, fc, tuple(hw))

    def forward_features(self, spec: torch.Tensor):
        x = spec if spec.dim() == 4 else spec.transpose(1, 2).unsqueeze(1)    # (B, 1, bins, steps)
        return self._head(self.conv1(x))


class PitchStudent(_VGGM):
    """Frames (B, 3, H, W) or (B, 5, 3, H, W) in [0, 1] → logits (B, 35)."""

    arch = "violin-student"

    def __init__(self, frames: int = 1, height: int = 100, width: int = 200, base: int = 16, fc: int = 256) -> None:
        super().__init__()
        if frames not in (1, 5):
            raise ValueError("the student sees 1 frame or 5")
        self.frames, self.height, self.width, self.base, self.fc = int(frames), int(height), int(width), int(base), int(fc)
        self.conv1 = nn.Sequential(*_block(3, base, 7, 2, False))
        self.pool1 = nn.MaxPool2d(2, ceil_mode=True)
        if frames > 1:
            # the thesis' 3-D convolution over (5 frames × 3 × 3) without temporal padding has one output
            # frame: it is exactly a 2-D 3×3 convolution over the five frames' channels stacked, which
            # is what runs here (on this 2-core CPU, forward + backward at the lite size: 28 ms against Conv3d's 36)
            self.fuse = nn.Sequential(nn.Conv2d(base * frames, base, 3, padding=1, bias=False),
                                      nn.BatchNorm2d(base), nn.ReLU(inplace=True))
        self.register_buffer("mean", torch.tensor([0.45, 0.42, 0.40]).view(1, 3, 1, 1))
        with torch.no_grad():
            hw = self.pool1(self.conv1(torch.zeros(1, 3, height, width))).shape[-2:]
        self._trunk(base, fc, tuple(hw))

    def forward_features(self, x: torch.Tensor):
        if self.frames == 1:
            if x.dim() == 5:
                x = x[:, x.shape[1] // 2]
            h = self.conv1(x - self.mean)
        else:
            b, t = x.shape[:2]
            h = self.conv1(x.flatten(0, 1) - self.mean)            # shared over the frames
            h = self.fuse(h.reshape(b, t * h.shape[1], *h.shape[2:]))   # (B, T·C, H, W) → (B, C, H, W)
        return self._head(self.pool1(h))


    def inflated_state(self, single: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """This 5-frame student's state from a 1-frame student's weights (``single``): every layer they
        share is copied, and the fusion starts as the centre frame's features passed through (its 3×3
        kernel is the identity on the centre frame's channels, zero on the others'), so training
        begins from the 1-frame model and learns what the neighbouring frames add (as I3D inflates
        2-D weights)."""
        if self.frames == 1:
            raise ValueError("only a 5-frame student inflates a 1-frame one")
        state = {k: v.clone() for k, v in self.state_dict().items()}
        missing = [k for k in state if not k.startswith("fuse.") and k not in single]
        wrong = [k for k in state if k in single and tuple(single[k].shape) != tuple(state[k].shape)]
        if missing or wrong:
            raise ValueError(f"the 1-frame weights do not fit: missing {missing[:3]}, other shapes {wrong[:3]}")
        for k in state:
            if not k.startswith("fuse."):
                state[k] = single[k].to(state[k].dtype).clone()
        w = torch.zeros_like(state["fuse.0.weight"])           # (base, frames · base, 3, 3)
        c = self.frames // 2
        for i in range(self.base):
            w[i, c * self.base + i, 1, 1] = 1.0
        state["fuse.0.weight"] = w
        return state


def distillation_loss(student_feats, teacher_feats, ce: torch.Tensor) -> tuple[torch.Tensor, list[float]]:
    """The thesis' distillation: L1 between the student's and the teacher's fc6, fc7 and fc8, each term
    weighted so that it is as large as the cross-entropy (the weights are constants, not trained)."""
    total = ce.new_zeros(())
    parts = []
    for s, t in zip(student_feats, teacher_feats):
        l1 = (s - t.detach()).abs().mean()
        w = (ce.detach() / l1.detach().clamp_min(1e-8)).clamp(max=100.0)
        total = total + w * l1
        parts.append(float(l1.detach()))
    return total, parts
