"""Panels shown in the main window's panel bar.  Each panel class has ``panel_id`` and ``title`` and is
constructed as ``Panel(settings, parent=...)``.

Later features add their panel class to :data:`PANEL_CLASSES`; a panel that does not exist yet is
simply not listed (no placeholders).
"""

from __future__ import annotations

from .audio_panel import AudioPanel
from .media_panel import MediaPanel
from .paint_panel import PaintPanel
from .piano_panel import PianoPanel
from .pose_panel import PosePanel
from .reenact_panel import ReenactPanel
from .retrieve_panel import RetrievePanel
from .train_panel import TrainPanel
from .violin_panel import ViolinPanel

PANEL_CLASSES = [MediaPanel, ReenactPanel, PosePanel, AudioPanel, PaintPanel, RetrievePanel, PianoPanel,
                 ViolinPanel, TrainPanel]

__all__ = ["PANEL_CLASSES", "AudioPanel", "MediaPanel", "PaintPanel", "PianoPanel", "PosePanel", "ReenactPanel",
           "RetrievePanel", "TrainPanel", "ViolinPanel"]
