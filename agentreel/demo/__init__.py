"""The bundled demo agent, recorded by ``agentreel demo``. Offline and deterministic."""

from __future__ import annotations

from agentreel.demo._agent import DEFAULT_SEED, research, run_demo
from agentreel.demo._model import ScriptedModel

__all__ = ["DEFAULT_SEED", "ScriptedModel", "research", "run_demo"]
