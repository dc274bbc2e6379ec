"""Offline stand-ins for the LLM roles of the demo profile.

Each module answers one role's real prompt, deterministically, in the real model's format. They
are programs, not language models, and the notebooks say so wherever their output is shown.
"""
