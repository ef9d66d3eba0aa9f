"""Qt-free media IO: video (PyAV), audio (soundfile, soxr), MIDI/MusicXML (pretty_midi, music21),
synthesis (pyfluidsynth) and playback (sounddevice).  Every writer is atomic (``core.atomic``)."""
