from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from x2studio.core.errors import DependencyError, InputError, MediaError, OutputError
from x2studio.media.audio import AudioClip, load_audio, resample, save_audio
from x2studio.media.midi import NoteEvent, load_midi, load_musicxml, save_midi, save_musicxml
from x2studio.media.synth import find_soundfonts, render_midi, render_notes, resolve_soundfont


def _tone(rate: int = 22050, seconds: float = 1.0, channels: int = 2) -> AudioClip:
    t = np.arange(int(rate * seconds)) / rate
    x = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    return AudioClip(np.repeat(x[:, None], channels, axis=1), rate)


@pytest.mark.parametrize("ext", [".wav", ".flac", ".ogg"])
def test_audio_round_trip(tmp_path: Path, ext: str) -> None:
    clip = _tone()
    out = save_audio(tmp_path / f"tone{ext}", clip)
    back = load_audio(out)
    assert back.sample_rate == 22050 and back.channels == 2
    assert abs(back.frames - clip.frames) <= 1024  # lossy codecs may pad a block
    mono16 = load_audio(out, sample_rate=16000, mono=True)
    assert mono16.channels == 1 and mono16.sample_rate == 16000
    assert abs(mono16.duration_s - 1.0) < 0.07


def test_resample_keeps_pitch() -> None:
    clip = _tone(rate=44100, channels=1)
    y = resample(clip.samples[:, 0], 44100, 16000)
    spectrum = np.abs(np.fft.rfft(y))
    freq = np.argmax(spectrum) * 16000 / len(y)
    assert abs(freq - 440) < 2
    with pytest.raises(InputError):
        resample(y, 0, 16000)


def test_zero_sample_audio_is_refused(tmp_path: Path) -> None:
    import soundfile as sf

    empty = tmp_path / "empty.wav"
    sf.write(str(empty), np.zeros((0, 1), np.float32), 16000)
    with pytest.raises(MediaError, match="no audio samples"):
        load_audio(empty)
    with pytest.raises(InputError):
        save_audio(tmp_path / "x.wav", AudioClip(np.zeros((0, 1), np.float32), 16000))


def test_bad_audio_inputs(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        load_audio(tmp_path / "missing.wav")
    text = tmp_path / "song.wav"
    text.write_text("not audio at all\n" * 100)
    with pytest.raises(MediaError):
        load_audio(text)
    with pytest.raises(OutputError, match="Cannot write audio"):
        save_audio(tmp_path / "x.xyz", _tone())
    with pytest.raises(OutputError):
        save_audio(tmp_path / "nowhere" / "x.wav", _tone())


def test_midi_round_trip(tmp_path: Path) -> None:
    notes = [NoteEvent(0.0, 0.5, 60, 100), NoteEvent(0.5, 1.0, 64, 80), NoteEvent(0.5, 1.5, 67, 70, program=40)]
    out = save_midi(tmp_path / "n.mid", notes)
    score = load_midi(out)
    assert len(score.notes) == 3
    for a, b in zip(sorted(notes), score.notes):
        assert a.pitch == b.pitch and a.velocity == b.velocity and a.program == b.program
        assert abs(a.onset - b.onset) < 1e-3 and abs(a.offset - b.offset) < 1e-3


def test_midi_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="no notes"):
        load_midi(save_midi(tmp_path / "empty.mid", []))
    junk = tmp_path / "junk.mid"
    junk.write_bytes(b"MThd-not-really" * 10)
    with pytest.raises(MediaError, match="not a MIDI file"):
        load_midi(junk)
    with pytest.raises(InputError):
        save_midi(tmp_path / "bad.mid", [NoteEvent(1.0, 0.5, 60)])
    with pytest.raises(InputError):
        save_midi(tmp_path / "bad.mid", [NoteEvent(0.0, 0.5, 200)])


def test_musicxml_round_trip(tmp_path: Path) -> None:
    notes = [NoteEvent(0.5 * i, 0.5 * i + 0.5, p, 80) for i, p in enumerate([60, 62, 64, 65, 67])]
    out = save_musicxml(tmp_path / "s.musicxml", notes, tempo_bpm=120)
    assert out.read_text().lstrip().startswith("<?xml")
    back = load_musicxml(out)
    assert [n.pitch for n in back.notes] == [60, 62, 64, 65, 67]
    assert [round(n.onset, 2) for n in back.notes] == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert not list(tmp_path.glob("*.part*"))


def test_musicxml_tempo_is_estimated_and_the_grid_applied(tmp_path: Path) -> None:
    """A performance at 90 bpm in eighths with small timing jitter: the tempo is estimated at about 90
    bpm and, on the sixteenth grid, every note lands on its eighth; a given tempo and a coarser grid are
    honoured.  (On the default grid with triplets a late note may become a triplet.)"""
    import music21

    from x2studio.media.midi import estimate_tempo

    rng = np.random.default_rng(0)
    beat = 60 / 90
    notes = [NoteEvent(i * beat / 2 + rng.normal(0, 0.01) + 0.05, i * beat / 2 + beat / 2, 60 + (i * 5) % 12, 80)
             for i in range(48)]
    assert abs(estimate_tempo(notes) - 90) < 4
    assert estimate_tempo(notes[:2]) == 120.0                 # too few notes to tell
    score = music21.converter.parse(str(save_musicxml(tmp_path / "a.musicxml", notes, grid="16")))
    marks = list(score.recurse().getElementsByClass("MetronomeMark"))
    assert marks and abs(marks[0].number - 90) < 4
    offsets = [float(n.getOffsetInHierarchy(score)) for n in score.recurse().notes]
    assert len(offsets) == 48 and all(abs(o * 2 - round(o * 2)) < 1e-6 for o in offsets)    # eighths
    score = music21.converter.parse(str(save_musicxml(tmp_path / "b.musicxml", notes, tempo_bpm=45, grid="4")))
    offsets = [float(n.getOffsetInHierarchy(score)) for n in score.recurse().notes]
    assert all(abs(o - round(o)) < 1e-6 for o in offsets)                                    # quarters
    with pytest.raises(InputError, match="grid"):
        save_musicxml(tmp_path / "c.musicxml", notes, grid="7")
    with pytest.raises(InputError, match="out of range"):
        save_musicxml(tmp_path / "c.musicxml", notes, tempo_bpm=1000)


def test_soundfont_is_found() -> None:
    fonts = find_soundfonts()
    assert fonts, "the set-up installs fluid-soundfont-gm; pretty_midi also ships one"
    assert resolve_soundfont("") == fonts[0]
    with pytest.raises(DependencyError, match="does not exist"):
        resolve_soundfont("/nonexistent/font.sf2")


def test_render_notes_sounds_at_the_right_pitch_and_time() -> None:
    clip = render_notes([NoteEvent(0.5, 1.5, 69, 100)], sample_rate=22050, tail_s=0.5)
    assert clip.channels == 2 and abs(clip.duration_s - 2.0) < 1e-3
    x = clip.samples.mean(axis=1)
    assert np.abs(x[: int(0.45 * 22050)]).max() < 1e-3  # silence before the onset
    seg = x[int(0.7 * 22050): int(1.4 * 22050)]
    assert np.sqrt(np.mean(seg ** 2)) > 0.005
    spectrum = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
    f0 = np.argmax(spectrum) * 22050 / len(seg)
    assert abs(f0 - 440) < 10 or abs(f0 - 880) < 20  # fundamental or octave partial


def test_render_midi_and_missing_soundfont(midi_file: Path, tmp_path: Path) -> None:
    clip = render_midi(midi_file, sample_rate=16000)
    assert clip.duration_s > 1.9
    with pytest.raises(DependencyError):
        render_midi(midi_file, soundfont=tmp_path / "missing.sf2")
    notsf = tmp_path / "font.txt"
    notsf.write_text("x")
    with pytest.raises(DependencyError, match="not a soundfont"):
        render_midi(midi_file, soundfont=notsf)


def test_render_can_be_cancelled() -> None:
    from x2studio.core.errors import Cancelled
    from x2studio.core.jobs import Job

    job = Job(lambda ev: None)
    job.token.cancel()
    notes = [NoteEvent(0.1 * i, 0.1 * i + 0.1, 60 + i % 12) for i in range(600)]
    with pytest.raises(Cancelled):
        render_notes(notes, sample_rate=8000, job=job)
