"""Synthesis with FluidSynth (pyfluidsynth), or TinySoundFont where FluidSynth is missing, and soundfont discovery.

Offline rendering drives a synthesizer event by event and pulls samples between events instead of
using pretty_midi's ``fluidsynth()`` helper, so that a long render reports progress, can be
cancelled and handles control changes (sustain pedal) of all programs in one synthesizer.

FluidSynth is the reference (libfluidsynth: Debian's libfluidsynth3).  Windows and macOS have no
libfluidsynth wheel, and an installed bundle may meet a Linux without it, so the ``tinysoundfont``
package (TinySoundFont compiled into its wheel, no system library) is the fallback.
``X2STUDIO_SYNTH=fluidsynth|tinysoundfont`` forces one.
"""

from __future__ import annotations

import glob
import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..core.errors import DependencyError, InputError
from ..core.jobs import Job, progress_of
from .audio import AudioClip
from .midi import ControlEvent, NoteEvent, Score, load_midi, validate_notes

__all__ = ["find_soundfonts", "resolve_soundfont", "render_notes", "render_midi", "fluidsynth_version",
           "synth_engine"]

log = logging.getLogger(__name__)

# Debian's packages first (fluid-soundfont-gm is installed by the set-up), then other common places,
# then the small General MIDI soundfont that ships inside pretty_midi's wheel.
_SYSTEM_SOUNDFONTS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/soundfonts/default.sf2",
    "/usr/share/sounds/sf2/*.sf2",
    "/usr/share/soundfonts/*.sf2",
    "/usr/local/share/soundfonts/*.sf2",
    "/opt/homebrew/share/soundfonts/*.sf2",
)


def _bundled_soundfonts() -> list[Path]:
    try:
        import pretty_midi
    except ImportError:  # pragma: no cover - a declared dependency
        return []
    return sorted(Path(pretty_midi.__file__).parent.glob("*.sf2"))


def find_soundfonts() -> list[Path]:
    """Every soundfont found on this machine, best first (no duplicates)."""
    seen: dict[str, Path] = {}
    env = os.environ.get("X2STUDIO_SOUNDFONT", "").strip()
    candidates: list[Path] = [Path(env).expanduser()] if env else []
    for pattern in _SYSTEM_SOUNDFONTS:
        candidates.extend(Path(p) for p in sorted(glob.glob(pattern)))
    candidates.extend(_bundled_soundfonts())
    for path in candidates:
        if path.is_file() and os.access(path, os.R_OK):
            seen.setdefault(str(path.resolve()), path)
    return list(seen.values())


def resolve_soundfont(preference: str | os.PathLike[str] | None = "") -> Path:
    """The soundfont to use: ``preference`` if given (it must exist), else the first one found."""
    if preference:
        path = Path(preference).expanduser()
        if not path.is_file():
            raise DependencyError(f"The soundfont '{path}' does not exist.",
                                  "Choose another one in Settings, or install fluid-soundfont-gm.")
        if path.suffix.lower() not in (".sf2", ".sf3"):
            raise DependencyError(f"'{path.name}' is not a soundfont (.sf2/.sf3).", "Choose a .sf2 file in Settings.")
        return path
    found = find_soundfonts()
    if not found:
        raise DependencyError("No soundfont was found, so notes cannot be synthesized.",
                              "Install Debian's fluid-soundfont-gm, or pick a .sf2 file in Settings.")
    return found[0]


def _fluidsynth():
    try:
        import fluidsynth
    except (ImportError, OSError) as exc:
        raise DependencyError("The FluidSynth library is not installed, so notes cannot be synthesized.",
                              "Install Debian's libfluidsynth3 (the set-up command does this).") from exc
    if not hasattr(fluidsynth, "Synth"):
        raise DependencyError("The 'fluidsynth' module found is not pyfluidsynth.", "pip install pyfluidsynth")
    return fluidsynth


def fluidsynth_version() -> str:
    try:
        fs = _fluidsynth()
    except DependencyError:
        return "not installed"
    try:
        return ".".join(str(v) for v in fs.fluid_version())
    except (AttributeError, TypeError, OSError):
        return "installed"


class _Engine:
    """The calls a render makes; pyfluidsynth and tinysoundfont name these three alike."""

    name = ""
    _synth = None

    def program_select(self, channel: int, sfid: int, program: int) -> None:
        self._synth.program_select(channel, sfid, 0, program)

    def noteon(self, channel: int, pitch: int, velocity: int) -> None:
        self._synth.noteon(channel, pitch, velocity)

    def noteoff(self, channel: int, pitch: int) -> None:
        self._synth.noteoff(channel, pitch)

    @staticmethod
    def _wheel(semitones: float) -> int:
        """The pitch wheel position (0…16383, centre 8192) for a bend, over the default ±2 semitones."""
        return int(np.clip(round(8192 + semitones / 2.0 * 8192), 0, 16383))


class _FluidSynthEngine(_Engine):
    name = "FluidSynth"

    def __init__(self, sample_rate: int, gain: float) -> None:
        self._synth = _fluidsynth().Synth(gain=gain, samplerate=float(sample_rate))

    def sfload(self, path: Path) -> int:
        return self._synth.sfload(str(path))

    def cc(self, channel: int, number: int, value: int) -> None:
        self._synth.cc(channel, number, value)

    def bend(self, channel: int, semitones: float) -> None:
        self._synth.pitch_bend(channel, self._wheel(semitones) - 8192)   # pyfluidsynth adds the centre back

    def samples(self, n: int) -> np.ndarray:
        return np.asarray(self._synth.get_samples(n), dtype=np.int16).reshape(-1, 2)[:n] / np.float32(32768.0)

    def delete(self) -> None:
        self._synth.delete()


class _TinySoundFontEngine(_Engine):
    name = "TinySoundFont"

    def __init__(self, sample_rate: int, gain: float) -> None:
        try:
            import tinysoundfont
        except (ImportError, OSError) as exc:
            raise DependencyError("Neither FluidSynth nor TinySoundFont is installed, so notes cannot be synthesized.",
                                  "Install Debian's libfluidsynth3, or 'pip install --no-deps tinysoundfont'.") from exc
        # TinySoundFont's gain is in dB; FluidSynth's 0.5 (our default) is about -6 dB
        self._synth = tinysoundfont.Synth(gain=float(20 * np.log10(max(gain, 1e-4))), samplerate=int(sample_rate))

    def sfload(self, path: Path) -> int:
        try:
            return self._synth.sfload(str(path))
        except Exception:  # noqa: BLE001 - tinysoundfont raises its own error types for unreadable files
            return -1

    def cc(self, channel: int, number: int, value: int) -> None:
        self._synth.control_change(channel, number, value)

    def bend(self, channel: int, semitones: float) -> None:
        self._synth.pitchbend(channel, self._wheel(semitones))

    def samples(self, n: int) -> np.ndarray:
        return np.frombuffer(self._synth.generate(n), dtype=np.float32).reshape(-1, 2)[:n]

    def delete(self) -> None:
        self._synth = None   # nothing to free by hand: the soundfonts go with the object


def synth_engine() -> str:
    """The synthesizer renders will use: 'FluidSynth', 'TinySoundFont', or 'none'."""
    try:
        return engine_class().name
    except DependencyError:
        return "none"


def engine_class():
    forced = os.environ.get("X2STUDIO_SYNTH", "").strip().lower()
    if forced == "tinysoundfont":
        return _TinySoundFontEngine
    try:
        _fluidsynth()
        return _FluidSynthEngine
    except DependencyError:
        if forced == "fluidsynth":
            raise
    try:
        import tinysoundfont  # noqa: F401
    except (ImportError, OSError) as exc:
        raise DependencyError("Neither FluidSynth nor TinySoundFont is installed, so notes cannot be synthesized.",
                              "Install Debian's libfluidsynth3, or 'pip install --no-deps tinysoundfont'.") from exc
    log.info("libfluidsynth is missing; synthesizing with TinySoundFont")
    return _TinySoundFontEngine


def _timeline(notes, controls, bends, channel_of: dict[int, int]) -> list[tuple[float, int, str, int, float, int]]:
    """(time, order, kind, a, b, channel) of every event, note-offs before note-ons at the same time."""
    events = []
    for n in notes:
        ch = channel_of[n.program]
        events.append((n.onset, 1, "on", n.pitch, n.velocity, ch))
        events.append((n.offset, 0, "off", n.pitch, 0, ch))
    for c in controls:
        events.append((c.time, 0, "cc", c.number, c.value, channel_of[c.program]))
    for t, prog, semis in bends:
        events.append((float(t), 0, "bend", 0, float(semis), channel_of[int(prog)]))
    return sorted(events, key=lambda e: (e[0], e[1]))


def render_notes(
    notes: Sequence[NoteEvent],
    sample_rate: int = 44100,
    soundfont: str | os.PathLike[str] | None = None,
    controls: Sequence[ControlEvent] = (),
    tail_s: float = 1.0,
    gain: float = 0.5,
    job: Job | None = None,
    bends: Sequence[tuple[float, int, float]] = (),
) -> AudioClip:
    """Render notes to stereo float32 audio.

    Args:
        notes: the notes (each with its General MIDI program).
        sample_rate: output rate in Hz (8000–192000).
        soundfont: a .sf2 path; ``None`` = :func:`resolve_soundfont`.
        controls: control changes (e.g. sustain pedal, 11 = expression) to apply.
        tail_s: seconds rendered after the last note ends (release and reverb).
        gain: FluidSynth master gain.
        job: progress and cancel.
        bends: pitch-wheel moves as (time s, program, semitones within ±2): vibrato, intonation.
    """
    if not 8000 <= int(sample_rate) <= 192000:
        raise InputError(f"Cannot synthesize at {sample_rate} Hz.", "Use a rate between 8000 and 192000 Hz.")
    notes = validate_notes(notes)
    if not notes:
        raise InputError("There are no notes to synthesize.", "Give a MIDI file or notes with at least one note.")
    sf_path = resolve_soundfont(soundfont)
    synth = engine_class()(int(sample_rate), gain)
    try:
        sfid = synth.sfload(sf_path)
        if sfid == -1:
            raise DependencyError(f"{synth.name} could not load the soundfont '{sf_path}'.",
                                  "Choose another soundfont in Settings.")
        programs = sorted({n.program for n in notes} | {c.program for c in controls} | {int(b[1]) for b in bends})
        if len(programs) > 15:
            raise InputError("More than 15 instruments in one render.", "Render fewer instruments at a time.")
        channel_of = {prog: ch if ch < 9 else ch + 1 for ch, prog in enumerate(programs)}  # skip drum channel 9
        for prog, ch in channel_of.items():
            synth.program_select(ch, sfid, prog)

        events = _timeline(notes, controls, bends, channel_of)
        end_time = max(n.offset for n in notes) + max(0.0, tail_s)
        total = int(round(end_time * sample_rate))
        out = np.zeros((total, 2), np.float32)
        pos = 0

        def pull(until: int) -> None:
            nonlocal pos
            while pos < until:
                n = min(until - pos, 65536)
                out[pos:pos + n] = synth.samples(n)
                pos += n

        for i, (t, _order, kind, a, b, ch) in enumerate(events):
            pull(min(total, int(round(t * sample_rate))))
            if kind == "on":
                synth.noteon(ch, a, b)
            elif kind == "off":
                synth.noteoff(ch, a)
            elif kind == "bend":
                synth.bend(ch, b)
            else:
                synth.cc(ch, a, b)
            if i % 256 == 0:
                progress_of(job, pos, total, "synthesizing")
        pull(total)
        progress_of(job, total, total, "synthesized")
    finally:
        synth.delete()
    return AudioClip(out, int(sample_rate))


def render_midi(path: str | os.PathLike[str], sample_rate: int = 44100,
                soundfont: str | os.PathLike[str] | None = None, job: Job | None = None) -> AudioClip:
    """Render a MIDI file (all non-drum instruments, with their control changes)."""
    score: Score = load_midi(path)
    return render_notes(score.notes, sample_rate=sample_rate, soundfont=soundfont, controls=score.controls, job=job)
