"""Speech for the synthetic talking faces: espeak-ng through its C library, with phoneme timings.

The espeak-ng command line reports no timings, but ``libespeak-ng.so.1`` sends a phoneme event
(with its audio position) to the synthesis callback when initialised with
``espeakINITIALIZE_PHONEME_EVENTS``.  The mouth is driven from those phonemes (visemes: jaw
opening, lip rounding, lip closure) rather than from the loudness of the audio, because an audio
envelope keeps the mouth open on /m/, /b/, /p/, where the lips must close.

espeak-ng keeps global state, so calls are serialised with a lock; it is loaded once per process.
Its waveform (and phoneme times, by a millisecond) depend on the calls made before in the same
process: the same sequence of calls gives the same samples.  Seeding libc's ``rand`` or speaking a
fixed preamble first does not reset that state (tried), so :func:`isolated` runs a block's speech
in a fresh process: a dataset generated inside it (``generate_faces`` does) has the same labels
whatever the calling process said before — a test suite, the app, a second dataset (its audio too,
but for the few samples of jitter :attr:`Utterance.span_s` mentions).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import pickle
import subprocess
import sys
import threading
from dataclasses import dataclass

import numpy as np

from x2studio.core.errors import DependencyError, InputError

__all__ = ["Utterance", "speak", "isolated", "sentence", "mouth_track", "LANGUAGES", "espeak_available"]

LANGUAGES = ("en", "de", "fr", "es", "it")

_EVENT_PHONEME = 7
_EVENT_END = 5
_EVENT_MSG_TERMINATED = 6


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _EventId)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))
_lock = threading.Lock()
_lib = None
_rate = 0
_sink: dict = {}


def _load():
    global _lib, _rate, _cb
    if _lib is not None:
        return _lib
    name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError as exc:
        raise DependencyError("espeak-ng is not installed; synthetic faces need it for speech.",
                              "Install it with: apt install espeak-ng (the set-up script does this).") from exc
    lib.espeak_Initialize.restype = ctypes.c_int
    rate = lib.espeak_Initialize(2, 0, None, 0x0001 | 0x8000)   # synchronous, phoneme events, don't exit
    if rate <= 0:
        raise DependencyError("espeak-ng could not start (its data files may be missing).",
                              "Reinstall it: apt install --reinstall espeak-ng-data.")

    def on_synth(wav, n, events):
        if n > 0 and wav:
            _sink["audio"].append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while True:
            ev = events[i]
            if ev.type == 0:
                break
            if ev.type == _EVENT_PHONEME:
                raw = bytes(ev.id.string).split(b"\0")[0]
                _sink["phonemes"].append((ev.audio_position / 1000.0, raw.decode("ascii", "replace")))
            i += 1
        return 0

    _cb = _CALLBACK(on_synth)
    lib.espeak_SetSynthCallback(_cb)
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                 ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
    _lib, _rate = lib, rate
    return lib


def espeak_available() -> bool:
    try:
        _load()
        return True
    except DependencyError:
        return False


@dataclass
class Utterance:
    """Synthesised speech: mono ``audio`` float32 in [-1, 1] at ``sample_rate`` and the phonemes
    as ``(start_s, espeak mnemonic)``."""

    text: str
    voice: str
    audio: np.ndarray
    sample_rate: int
    phonemes: list[tuple[float, str]]

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate

    @property
    def span_s(self) -> float:
        """The utterance's length for timing, from the phoneme events alone.

        espeak-ng's waveform is not sample-exact from run to run (a few samples of jitter), but
        its phoneme times are; everything the labels depend on uses this span, so labels are
        byte-identical for a seed."""
        if not self.phonemes:
            return round(self.duration_s, 2)
        return round(self.phonemes[-1][0] + 0.12, 3)


_local = threading.local()          # .session: the fresh process of an isolated() block, per thread


class _Session:
    """A fresh Python process that synthesises for us: requests and replies are pickled over its
    stdin/stdout (our own child, never a file from a user).  A plain subprocess rather than
    multiprocessing's spawn, which would run the caller's unguarded main script again."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self.proc = subprocess.Popen([sys.executable, "-c", "from training.synth.speech import _serve; _serve()"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)

    def call(self, *args) -> Utterance:
        pickle.dump(args, self.proc.stdin)
        self.proc.stdin.flush()
        try:
            ok, value = pickle.load(self.proc.stdout)
        except EOFError:
            raise DependencyError("The speech process ended unexpectedly (espeak-ng crashed?).") from None
        if not ok:
            raise value
        return value

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


def _serve() -> None:
    """The session process: unpickle a request, synthesise, pickle (ok, result or error), until EOF."""
    inp = sys.stdin.buffer
    out = os.fdopen(os.dup(1), "wb")      # replies on a copy of stdout; anything printed goes to stderr
    os.dup2(2, 1)
    while True:
        try:
            args = pickle.load(inp)
        except EOFError:
            return
        try:
            reply = (True, _speak(*args))
        except Exception as exc:  # noqa: BLE001 - handed back to the caller, who raises it
            reply = (False, exc)
        pickle.dump(reply, out)
        out.flush()


@contextlib.contextmanager
def isolated():
    """Speech of this block (this thread's :func:`speak` calls) from a fresh process, started for
    the block and ended with it; a nested block uses the outer one's process."""
    if getattr(_local, "session", None) is not None:
        yield
        return
    session = _Session()
    _local.session = session
    try:
        yield
    finally:
        _local.session = None
        session.close()


def speak(text: str, voice: str = "en", rate_wpm: int = 160, pitch: int = 50, pitch_range: int = 50) -> Utterance:
    """Synthesise ``text`` with an espeak-ng ``voice`` (e.g. ``"en+f3"``, ``"de+m2"``), in this process
    or, inside :func:`isolated`, in its fresh one."""
    if not text.strip():
        raise InputError("Nothing to say: the text is empty.")
    session = getattr(_local, "session", None)
    if session is not None:
        return session.call(text, voice, int(rate_wpm), int(pitch), int(pitch_range))
    return _speak(text, voice, rate_wpm, pitch, pitch_range)


def _speak(text: str, voice: str, rate_wpm: int, pitch: int, pitch_range: int) -> Utterance:
    with _lock:
        lib = _load()
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise InputError(f"espeak-ng has no voice '{voice}'.", "List voices with: espeak-ng --voices")
        lib.espeak_SetParameter(1, int(rate_wpm), 0)
        lib.espeak_SetParameter(3, int(pitch), 0)
        lib.espeak_SetParameter(4, int(pitch_range), 0)
        _sink["audio"], _sink["phonemes"] = [], []
        data = text.encode("utf-8") + b"\0"
        err = lib.espeak_Synth(data, len(data), 0, 1, 0, 1, None, None)
        lib.espeak_Synchronize()
        if err != 0:
            raise InputError(f"espeak-ng failed on the text (error {err}).")
        audio = np.concatenate(_sink["audio"]) if _sink["audio"] else np.zeros(0, np.int16)
        phonemes = list(_sink["phonemes"])
    return Utterance(text, voice, (audio.astype(np.float32) / 32768.0), _rate, phonemes)


# ----------------------------------------------------------------------------- visemes
# (jaw opening, lip rounding, lips pressed shut) targets for espeak-ng's phoneme mnemonics
_VOWEL_OPEN = {"a": 0.85, "A": 0.85, "&": 0.75, "V": 0.6, "0": 0.7, "O": 0.65, "o": 0.5, "e": 0.5,
               "E": 0.6, "3": 0.45, "@": 0.4, "i": 0.28, "I": 0.3, "y": 0.28, "u": 0.3, "U": 0.32, "Y": 0.35,
               "W": 0.45, "9": 0.45}
_ROUND = set("oOuUwyYW09")


def viseme(ph: str) -> tuple[float, float, float]:
    p = ph.strip("'\",%=:;!-_|#")
    if not p:
        return (0.0, 0.0, 0.0)          # pause
    c = p[0]
    if c in "pbm":
        return (0.0, 0.1, 1.0)
    if c in "fv":
        return (0.12, 0.0, 0.0)
    if c in _VOWEL_OPEN:
        return (_VOWEL_OPEN[c], 0.9 if c in _ROUND else 0.0, 0.0)
    if c == "w":
        return (0.2, 1.0, 0.0)
    if c in "SZ":
        return (0.2, 0.6, 0.0)
    return (0.22, 0.0, 0.0)


def mouth_track(utt: Utterance, fps: float, n_frames: int, offset_s: float = 0.0) -> np.ndarray:
    """Per-frame ``(jaw_open, lip_round)`` ``(n_frames, 2)`` for speech starting at ``offset_s``.

    Targets switch at phoneme onsets (100 Hz), are smoothed with a 30 ms Gaussian (coarticulation)
    and sampled at the frame times, so frame ``k`` (time ``k / fps``) shows the mouth of the sound
    being heard at that time.
    """
    hz = 100.0
    total = n_frames / fps
    t = np.arange(int(np.ceil(total * hz)) + 1) / hz
    jaw = np.zeros_like(t)
    rnd = np.zeros_like(t)
    ph = utt.phonemes
    end = offset_s + utt.span_s
    for k, (start, name) in enumerate(ph):
        s = offset_s + start
        e = offset_s + (ph[k + 1][0] if k + 1 < len(ph) else utt.span_s)
        o, r, closed = viseme(name)
        m = (t >= s) & (t < e)
        jaw[m] = 0.0 if closed else o
        rnd[m] = r
    jaw[(t >= end)] = 0.0
    sig = 0.03 * hz
    x = np.arange(-int(3 * sig), int(3 * sig) + 1)
    g = np.exp(-0.5 * (x / sig) ** 2)
    g /= g.sum()
    jaw = np.convolve(jaw, g, mode="same")
    rnd = np.convolve(rnd, g, mode="same")
    ft = np.arange(n_frames) / fps
    return np.stack([np.interp(ft, t, jaw), np.interp(ft, t, rnd)], -1).astype(np.float32)


# ----------------------------------------------------------------------------- sentences
_WORDS = {
    "en": (["the old man", "my sister", "a young teacher", "the doctor", "our neighbour", "this company",
            "the little boy", "my friend", "the government", "a famous painter"],
           ["found", "painted", "bought", "remembered", "opened", "described", "visited", "carried",
            "explained", "never liked"],
           ["a blue umbrella", "the morning paper", "seven apples", "an empty bottle", "the big museum",
            "a strange letter", "the last train", "my brother's bicycle", "the wooden boat", "a quiet garden"],
           ["yesterday", "last summer", "in the afternoon", "before breakfast", "after the meeting", "again",
            "very slowly", "by the river", "without a word", "at midnight"]),
    "de": (["der alte Mann", "meine Schwester", "ein junger Lehrer", "die Ärztin", "unser Nachbar",
            "das kleine Kind", "mein Freund", "die Regierung"],
           ["fand", "malte", "kaufte", "öffnete", "besuchte", "trug", "erklärte", "suchte"],
           ["einen blauen Schirm", "die Morgenzeitung", "sieben Äpfel", "eine leere Flasche", "das große Museum",
            "einen seltsamen Brief", "den letzten Zug", "das hölzerne Boot"],
           ["gestern", "im Sommer", "am Nachmittag", "vor dem Frühstück", "nach der Sitzung", "wieder",
            "sehr langsam", "am Fluss"]),
    "fr": (["le vieil homme", "ma soeur", "un jeune professeur", "le médecin", "notre voisin", "le petit garçon",
            "mon ami", "le gouvernement"],
           ["a trouvé", "a peint", "a acheté", "a ouvert", "a visité", "a porté", "a expliqué", "a cherché"],
           ["un parapluie bleu", "le journal du matin", "sept pommes", "une bouteille vide", "le grand musée",
            "une lettre étrange", "le dernier train", "le bateau en bois"],
           ["hier", "l'été dernier", "dans l'après-midi", "avant le petit déjeuner", "après la réunion",
            "encore", "très lentement", "près de la rivière"]),
    "es": (["el viejo", "mi hermana", "un joven profesor", "la doctora", "nuestro vecino", "el niño pequeño",
            "mi amigo", "el gobierno"],
           ["encontró", "pintó", "compró", "abrió", "visitó", "llevó", "explicó", "buscó"],
           ["un paraguas azul", "el periódico", "siete manzanas", "una botella vacía", "el gran museo",
            "una carta extraña", "el último tren", "el barco de madera"],
           ["ayer", "el verano pasado", "por la tarde", "antes del desayuno", "después de la reunión",
            "otra vez", "muy despacio", "junto al río"]),
    "it": (["il vecchio", "mia sorella", "un giovane maestro", "la dottoressa", "il nostro vicino",
            "il bambino", "il mio amico", "il governo"],
           ["ha trovato", "ha dipinto", "ha comprato", "ha aperto", "ha visitato", "ha portato", "ha spiegato",
            "ha cercato"],
           ["un ombrello blu", "il giornale", "sette mele", "una bottiglia vuota", "il grande museo",
            "una lettera strana", "l'ultimo treno", "la barca di legno"],
           ["ieri", "l'estate scorsa", "nel pomeriggio", "prima di colazione", "dopo la riunione", "di nuovo",
            "molto lentamente", "vicino al fiume"]),
}


def sentence(rng: np.random.Generator, lang: str = "en") -> str:
    """A random, grammatical sentence in ``lang`` (subject verb object [adverbial])."""
    if lang not in _WORDS:
        raise InputError(f"No sentence generator for language '{lang}'.", f"Use one of {', '.join(LANGUAGES)}.")
    subj, verb, obj, adv = _WORDS[lang]
    parts = [subj[rng.integers(len(subj))], verb[rng.integers(len(verb))], obj[rng.integers(len(obj))]]
    if rng.uniform() < 0.7:
        parts.append(adv[rng.integers(len(adv))])
    s = " ".join(parts)
    return s[0].upper() + s[1:] + ("?" if rng.uniform() < 0.15 else ".")
