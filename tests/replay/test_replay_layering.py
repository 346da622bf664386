"""The replaying process and the framework seams stay on the agent's side of the flow."""

from __future__ import annotations

import subprocess
import sys


def test_the_replaying_process_and_the_seams_load_no_store() -> None:
    code = (
        "import sys\n"
        "import agentreel.replay._child, agentreel.httpx, agentreel.pydantic_ai\n"
        "import agentreel.openai_agents, agentreel.langchain\n"
        "heavy = sorted(m for m in ('duckdb', 'polars', 'agentreel.store', 'textual') "
        "if m in sys.modules)\n"
        "print(','.join(heavy) or 'none')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "none"
