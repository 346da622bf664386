"""`instrument()` and `record` import no framework the program does not, and record those it does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

#: The frameworks' and their instrumentations' modules: what a program pays seconds to import.
FRAMEWORKS = (
    "openai",
    "anthropic",
    "agents",
    "pydantic_ai",
    "langchain_core",
    "langgraph",
    "mcp",
    "openinference.instrumentation",
)
LOADED = f"sorted(m for m in sys.modules if m in {FRAMEWORKS!r})"


def _run(code: str, tmp_path: Path) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), str(tmp_path / "store")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, object] = json.loads(out.stdout.splitlines()[-1])
    return result


def test_instrument_waits_for_each_framework_and_switches_it_on_when_imported(
    tmp_path: Path,
) -> None:
    facts = _run(
        f"""
        import json, sys
        import agentreel

        agentreel.init(sys.argv[1])
        facts = {{"on": agentreel.instrument(), "loaded": {LOADED}}}

        import openai
        from openinference.instrumentation.anthropic import AnthropicInstrumentor
        from openinference.instrumentation.langchain import LangChainInstrumentor
        from openinference.instrumentation.openai import OpenAIInstrumentor

        facts["after openai"] = {LOADED}
        facts["openai on"] = OpenAIInstrumentor().is_instrumented_by_opentelemetry
        import langgraph.graph
        from langgraph._internal import _runnable

        facts["langchain on"] = LangChainInstrumentor().is_instrumented_by_opentelemetry
        facts["langgraph bridged"] = hasattr(_runnable._set_config_context, "__wrapped__")
        agentreel.shutdown()
        import anthropic

        facts["anthropic on after shutdown"] = AnthropicInstrumentor().is_instrumented_by_opentelemetry
        print(json.dumps(facts))
        """,
        tmp_path,
    )
    assert facts == {
        "on": ["anthropic", "langchain", "mcp", "openai", "openai-agents", "pydantic-ai"],
        "loaded": [],
        "after openai": ["openai", "openinference.instrumentation"],
        "openai on": True,
        "langchain on": True,
        "langgraph bridged": True,
        "anthropic on after shutdown": False,
    }


def test_an_integration_whose_framework_is_imported_switches_on_at_once(tmp_path: Path) -> None:
    facts = _run(
        """
        import json, sys
        import anthropic
        import agentreel
        from openinference.instrumentation.anthropic import AnthropicInstrumentor

        agentreel.init(sys.argv[1])
        on = agentreel.instrument("anthropic")
        print(json.dumps({"on": on, "instrumented": AnthropicInstrumentor().is_instrumented_by_opentelemetry}))
        """,
        tmp_path,
    )
    assert facts == {"on": ["anthropic"], "instrumented": True}


def test_record_imports_no_framework_the_program_does_not(tmp_path: Path) -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentreel",
            "record",
            "--dir",
            str(tmp_path / "store"),
            "--",
            sys.executable,
            "-c",
            f"import json, sys; print(json.dumps({LOADED}))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == []
    assert "recording is off" not in r.stderr
    assert "not instrumented" not in r.stderr
