"""The demo profile's stand-in models: an OpenAI-compatible app (``app``) that answers each role
from a deterministic handler in ``standins/``. Stand-ins teach the mechanics; they are not the
paper's models.

Importing this package registers the app with the engine as the endpoint of ``base_url:
inprocess`` (:func:`star1_utils.llm.engine.register_inprocess`): the engine, below it, never
imports the stand-ins."""

from star1_utils.demo import app as _stand_ins
from star1_utils.llm import engine

engine.register_inprocess(_stand_ins.app, _stand_ins.model_revision)
