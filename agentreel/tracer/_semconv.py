"""Which version of the GenAI conventions the tracer writes: ``OTEL_SEMCONV_STABILITY_OPT_IN``.

The GenAI conventions ask an instrumentation not to change, by default, the names
and kinds of what it already emits while the conventions are in development, and
to emit the latest form instead when ``OTEL_SEMCONV_STABILITY_OPT_IN`` (a
comma-separated list) holds ``gen_ai_latest_experimental``. agentreel follows that
for the one span whose name the latest form changes: the root span of
`agentreel.run` (docs/conventions.md lists both forms).

Read when a run starts, not once at import, so a test or a long-lived process may
set it at any time; never on the path of a decorated call.
"""

from __future__ import annotations

import os

__all__ = ["GEN_AI_LATEST", "OPT_IN_ENV", "latest_genai"]

OPT_IN_ENV = "OTEL_SEMCONV_STABILITY_OPT_IN"
GEN_AI_LATEST = "gen_ai_latest_experimental"


def latest_genai() -> bool:
    """Whether the environment opts in to the latest GenAI conventions.

    Example::

        os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "http,gen_ai_latest_experimental"
        latest_genai()   # True
    """
    value = os.environ.get(OPT_IN_ENV, "")
    return GEN_AI_LATEST in (part.strip() for part in value.split(","))
