"""Rendering with diffusers: model loading and safety, architecture presets, prompt weighting, the renderer.

Import-light on purpose: nothing here imports torch, diffusers or transformers at import time; each module imports
them inside the functions that need them, so ``promptlib --help`` and lexical search stay fast.
"""

from __future__ import annotations
