"""Talking to models: the batch engine for OpenAI-compatible endpoints with its answer cache
(``engine``) and the reading of model replies (``replies``)."""
