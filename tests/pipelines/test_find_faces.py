"""The embedding use-cases' requests refuse bad input with a sentence before any model is loaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from x2studio.core.errors import InputError
from x2studio.pipelines.find_faces import AttributesRequest, GalleryRequest, RetrieveRequest, index_model


def test_requests_refuse_bad_input(tmp_path: Path) -> None:
    face = tmp_path / "face.png"
    bad = [lambda: GalleryRequest(tmp_path / "idx", ()), lambda: GalleryRequest(tmp_path / "idx", (face,), fps=0.0),
           lambda: GalleryRequest(tmp_path / "idx", (face,), fps=float("nan")),
           lambda: GalleryRequest(tmp_path / "idx", (face,), max_faces=0),
           lambda: RetrieveRequest(tmp_path / "idx"), lambda: RetrieveRequest(tmp_path / "idx", face, np.zeros((4, 4, 3))),
           lambda: RetrieveRequest(tmp_path / "idx", picture=np.zeros((4, 4))),
           lambda: RetrieveRequest(tmp_path / "idx", face, k=0), lambda: RetrieveRequest(tmp_path / "idx", face, k=10**6),
           lambda: RetrieveRequest(tmp_path / "idx", face, time_s=float("nan")),
           lambda: RetrieveRequest(tmp_path / "idx", face, time_s=-1.0),
           lambda: AttributesRequest(()), lambda: AttributesRequest((face,), time_s=float("inf"))]
    for make in bad:
        with pytest.raises(InputError):
            make()
    assert RetrieveRequest(tmp_path / "idx", tmp_path / "clip.mp4", time_s=2.0).name == "clip.mp4 at 2.00 s"
    assert RetrieveRequest(tmp_path / "idx", picture=np.zeros((4, 4, 3), np.uint8), label="webcam frame").name \
        == "webcam frame"
    assert index_model(tmp_path / "idx") is None          # no index: Gallery says why when it is opened
