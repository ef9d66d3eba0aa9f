"""A face's attributes read from its embedding, shown: landmarks and pose drawn on the picture,
pose and expression as text, the expression read-outs as bars (the Retrieve panel's query and
results)."""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtWidgets import QWidget

__all__ = ["draw_attributes", "attributes_html", "ExpressionBars"]


def draw_attributes(rgb: np.ndarray, attrs: dict | None, size: int, pose_text: bool = True) -> np.ndarray:
    """``rgb`` resized to ``size``² with the read-out landmarks (green dots) and pose (yaw/pitch/roll)
    drawn on it; landmarks are in the pixels of ``rgb``."""
    out = cv2.resize(np.ascontiguousarray(rgb), (size, size), interpolation=cv2.INTER_AREA if rgb.shape[0] > size
                     else cv2.INTER_LINEAR)
    if not attrs:
        return out
    if attrs.get("landmarks") is not None:
        s = size / rgb.shape[1]
        for x, y in np.asarray(attrs["landmarks"]) * s:
            cv2.circle(out, (int(round(x)), int(round(y))), max(1, size // 90), (60, 255, 90), -1, cv2.LINE_AA)
    if pose_text and "pose" in attrs:
        p = attrs["pose"]
        text = f"y{p['yaw']:+.0f} p{p['pitch']:+.0f} r{p['roll']:+.0f}"
        scale = size / 320
        cv2.putText(out, text, (3, size - 5), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(out, text, (3, size - 5), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def attributes_html(attrs: dict | None, source: str = "") -> str:
    if not attrs:
        return ""
    rows = []
    if "pose" in attrs:
        p = attrs["pose"]
        rows.append(f"<b>Pose</b>: yaw {p['yaw']:+.1f}°, pitch {p['pitch']:+.1f}°, roll {p['roll']:+.1f}°")
    if "expression" in attrs:
        rows.append("<b>Expression</b>" + (f" <small>({source})</small>" if source else ""))
    return "<br>".join(rows)


class ExpressionBars(QWidget):
    """One horizontal bar per expression read-out (0…1), with its value and name."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.values: dict[str, float] = {}
        self.setMinimumHeight(5 * 17)

    def set_values(self, values: dict[str, float] | None) -> None:
        self.values = dict(values or {})
        self.setMinimumHeight(max(1, len(self.values)) * 17)
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802
        from PySide6.QtGui import QColor, QPainter

        painter = QPainter(self)
        pal = self.palette()
        bar_w = 90
        for i, (name, v) in enumerate(self.values.items()):
            y = i * 17 + 2
            painter.fillRect(0, y, bar_w, 12, pal.mid())
            painter.fillRect(0, y, int(round(bar_w * min(max(v, 0.0), 1.0))), 12, QColor(74, 144, 217))
            painter.setPen(pal.windowText().color())
            painter.drawText(bar_w + 6, y + 11, f"{v:.2f}  {name}")
        painter.end()
