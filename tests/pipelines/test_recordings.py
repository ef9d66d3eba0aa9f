"""A file with no picture (a WAV, say) is transcribed from its sound, piano or violin, whatever the
mode asked for, and says so; on the real violin recording of ``../shared/real`` the notes match the
expert's (mir_eval onsets)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from x2studio.media.audio import save_audio
from x2studio.media.midi import NoteEvent
from x2studio.media.synth import render_notes
from tests.conftest import run_cli

REAL = Path(__file__).resolve().parents[3] / "shared" / "real"
VIOLIN_WAV = REAL / "violin" / "vln02_mosa_de2_yv10_t1_deng_yuxian_clip16s.wav"
VIOLIN_NOTES = REAL / "violin" / "vln02_mosa_de2_yv10_t1_clip_notes.mid"


@pytest.fixture(scope="module")
def tune(tmp_path_factory) -> tuple[Path, list[NoteEvent]]:
    """A recording (WAV, no picture) of eight notes played on a violin sound, and the notes."""
    notes = [NoteEvent(0.3 + 0.5 * k, 0.7 + 0.5 * k, p, 90, program=40) for k, p in
             enumerate((62, 64, 66, 67, 69, 71, 73, 74))]
    wav = tmp_path_factory.mktemp("rec") / "tune.wav"
    save_audio(wav, render_notes(notes, sample_rate=22050))
    return wav, notes


@pytest.mark.parametrize("instrument", ["piano", "violin"])
def test_a_recording_is_transcribed_from_its_sound(tune, instrument: str, tmp_path: Path) -> None:
    from x2studio.media.midi import load_midi
    from x2studio.pipelines.piano import note_metrics

    wav, notes = tune
    out = tmp_path / "out.mid"
    res = run_cli("transcribe", instrument, wav, "-o", out)           # the default mode reads the picture
    assert res.returncode == 0, res.stderr
    assert "has no picture" in res.stdout + res.stderr and out.is_file()
    found = load_midi(out).notes
    assert note_metrics([n for n in notes], found)["f1"] > 0.6, found


def test_a_file_with_no_sound_and_no_picture_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"RIFF\x00\x00\x00\x00WAVE")
    res = run_cli("transcribe", "violin", empty, "-o", tmp_path / "o.mid")
    assert res.returncode != 0 and "Traceback" not in res.stderr and not (tmp_path / "o.mid").exists()


@pytest.mark.skipif(not VIOLIN_WAV.is_file(), reason="the real violin recording (../shared/real/violin) is not here")
def test_the_real_violin_recording_against_the_experts_notes(tmp_path: Path) -> None:
    """Measured 2026-12-08: onset F1 0.46 (precision 0.38, recall 0.58) on 19 expert notes; the floor
    below catches a regression, not the goal (issue 42)."""
    import mir_eval
    import pretty_midi

    out = tmp_path / "vln.mid"
    assert run_cli("transcribe", "violin", VIOLIN_WAV, "-o", out).returncode == 0

    def arrays(path: Path):
        notes = [n for i in pretty_midi.PrettyMIDI(str(path)).instruments for n in i.notes]
        return (np.array([[n.start, n.end] for n in notes]),
                np.array([pretty_midi.note_number_to_hz(n.pitch) for n in notes]))

    (ri, rp), (ei, ep) = arrays(VIOLIN_NOTES), arrays(out)
    _, _, f1, _ = mir_eval.transcription.precision_recall_f1_overlap(ri, rp, ei, ep, offset_ratio=None)
    assert f1 >= 0.4, f1


def test_the_violins_outputs_are_checked_together(tune, tmp_path: Path) -> None:
    """The pitch track (--csv) may not be another output's file nor the recording itself; nothing
    is transcribed or written when it is."""
    wav, _ = tune
    mid = tmp_path / "out.mid"
    for args in (["-o", mid, "--csv", mid], ["-o", mid, "--csv", wav], ["--csv", wav]):
        res = run_cli("transcribe", "violin", wav, *args)
        assert res.returncode != 0 and "Traceback" not in res.stderr, res.stderr
        assert not mid.exists() and wav.stat().st_size > 1000
    res = run_cli("transcribe", "violin", wav, "-o", mid, "--csv", tmp_path / "track.csv")
    assert res.returncode == 0 and mid.is_file() and (tmp_path / "track.csv").is_file()
