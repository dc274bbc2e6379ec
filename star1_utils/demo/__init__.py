"""The demo profile's stand-in models: an OpenAI-compatible app (``app``) that answers each role
from a deterministic handler in ``standins/``. Stand-ins teach the mechanics; they are not the
paper's models."""
