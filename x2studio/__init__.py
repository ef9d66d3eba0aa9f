"""X2 Studio: face reenactment, face embeddings and music transcription from video.

The package is laid out as in ``shared/design/ARCHITECTURE.md``: ``core`` (Qt- and torch-free
domain), ``media`` (IO), ``weights`` (safe weight registry), ``workers``/``ui``/``app`` (Qt only).
"""

__version__ = "0.1.0"
APP_NAME = "X2 Studio"
ORG_NAME = "X2Studio"
