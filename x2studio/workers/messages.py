"""What the workers' ``ready`` signals carry: the set-up a panel shows once a model and its source
are loaded (typed, so that a panel reads fields, not dictionary keys)."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QImage

__all__ = ["SourceReady", "SourcesReady", "LiveReady"]


@dataclass(frozen=True)
class SourceReady:
    """One source face set up (the Pose and Audio panels' workers)."""

    weights: str
    source: QImage                         # the source face's crop
    pose: tuple[float, float, float]       # its own yaw, pitch, roll (degrees)
    embedded: QImage | None = None         # the embedded face (Pose)
    features: str = ""                     # the speech features (Audio)


@dataclass(frozen=True)
class SourcesReady:
    """Source faces set up for reenactment (the Reenact and Paint panels' worker)."""

    weights: str
    size: int                              # the embedded face's side (pixels)
    fusion: str
    embedded: QImage                       # the embedded face, painted
    embedded_plain: QImage                 # without paint
    sources: tuple                         # QImage per source face
    origins: tuple                         # where each came from (file, frame)


@dataclass(frozen=True)
class LiveReady:
    """The live piano's weights and sound set up."""

    weights: str
    sound: str                             # the synthesizer's engine, or "off (why)"
    output_latency: float | None = None    # the sound device's (s)
