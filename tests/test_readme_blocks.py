"""Every code block of the README and docs/ that a user would copy runs as written.

Each ```python block of README.md and docs/*.md runs as a program, offline, in a fresh
directory where the README's Quickstart has already recorded its run (so a block that
reads the store finds one), with the installed package (`sys.executable`). A block
that is not a program (a signature, a fragment that needs names from its page) is
marked in the Markdown, on the line before its fence:

    <!-- not run: a signature -->

and is reported here as skipped, with that reason. Blocks that call a model reach
nothing beyond this machine: OpenAI and Anthropic clients are pointed at a scripted
server on 127.0.0.1 (`model` below) through their own environment
variables (`OPENAI_BASE_URL`, `ANTHROPIC_BASE_URL`), and every HTTP proxy variable names a
local server that refuses and notes each request, so a client that ignores those cannot
reach the network, and the test sees that it tried.

The README's shell blocks are checked too: each `agentreel ...` line a user is told to
type runs, with the Quickstart's run id in place of the example's, against the
Quickstart's store (saved as the `my_agent.py` that `agentreel record` is shown running),
with `agentreel` found on the PATH as `source .venv/bin/activate` puts it there;
`agentreel serve`, which runs until Ctrl-C, is left out.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from agentreel.store import Store
from tests._json_server import json_server

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BIN = Path(sys.executable).parent
_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```\s*$", re.S | re.M)
_NOT_RUN = re.compile(r"<!--\s*not run:\s*(.+?)\s*-->\s*$")
#: The run id the README's examples use, replaced by the Quickstart's.
EXAMPLE_RUN_ID = "4623a6bd"


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    lang: str
    code: str
    not_run: str | None  # the reason, when marked

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    text = page.read_text()
    out = []
    for m in _FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marked = _NOT_RUN.search(before)
        out.append(Block(page, line, m.group(1), m.group(2), marked.group(1) if marked else None))
    return out


PYTHON_BLOCKS = [b for page in PAGES for b in blocks(page) if b.lang == "python"]


def _env(home: Path, model: Model | None = None, proxy: str = "127.0.0.1:9") -> dict[str, str]:
    env = {
        "PATH": f"{BIN}{os.pathsep}/usr/bin{os.pathsep}/bin",  # as an active virtualenv has it
        "HOME": str(home),
        "COLUMNS": "120",
        "LANG": "C.UTF-8",
        # nothing leaves this machine: a client that ignores the base URLs meets a closed port
        "HTTP_PROXY": f"http://{proxy}",
        "HTTPS_PROXY": f"http://{proxy}",
        "ALL_PROXY": f"http://{proxy}",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    if "PYTHONPATH" in os.environ:  # a test run against a source tree
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    if model is not None:
        env |= {
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": f"{model.url}/v1",
            "ANTHROPIC_API_KEY": "sk-ant-test",
            "ANTHROPIC_BASE_URL": model.url,
        }
    return env


def _run(
    cwd: Path, args: list[str], env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def quickstart_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory where the README's Quickstart, saved as my_agent.py, has recorded a run."""
    d = tmp_path_factory.mktemp("quickstart")
    quickstart = PYTHON_BLOCKS[0]
    assert quickstart.page.name == "README.md"
    (d / "my_agent.py").write_text(quickstart.code)
    p = _run(d, [sys.executable, "my_agent.py"], _env(d))
    assert p.returncode == 0, p.stderr
    return d


ANSWER = "Refunds take five days."


@dataclass
class Model:
    """A scripted model on 127.0.0.1: OpenAI's chat and responses APIs, Anthropic's messages."""

    url: str = ""
    paths: list[str] = field(default_factory=list)

    def take(self) -> list[str]:
        out, self.paths = self.paths, []
        return out


def _reply(path: str, body: dict[str, Any]) -> dict[str, Any] | None:
    model = body.get("model", "gpt-4.1")
    if path.endswith("/chat/completions"):
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1_790_000_000,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": ANSWER},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
        }
    if path.endswith("/responses"):
        return {
            "id": "resp_1",
            "object": "response",
            "created_at": 1_790_000_000,
            "status": "completed",
            "model": model,
            "output": [
                {
                    "type": "message",
                    "id": "msg_1",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": ANSWER, "annotations": []}],
                }
            ],
            "usage": {
                "input_tokens": 12,
                "output_tokens": 5,
                "total_tokens": 17,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens_details": {"reasoning_tokens": 0},
            },
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
        }
    if path.endswith("/messages"):
        return {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": ANSWER}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 12, "output_tokens": 5},
        }
    return None


@pytest.fixture(scope="module")
def model() -> Iterator[Model]:
    state = Model()

    def answer(path: str, body: dict[str, Any], raw: bytes) -> dict[str, Any] | None:
        state.paths.append(path)
        return _reply(path, body)

    with json_server(answer) as state.url:
        yield state


@pytest.fixture(scope="module")
def proxy() -> Iterator[list[str]]:
    """A "proxy" on 127.0.0.1 that refuses every request and notes what was asked of it:
    whatever tries to leave this machine through the proxy variables is caught here."""
    asked: list[str] = []

    class Refuse(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _refuse(self) -> None:
            asked.append(f"{self.command} {self.path}")
            self.send_error(403)

        do_CONNECT = do_GET = do_POST = do_PUT = _refuse

    server = ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    asked.append(f"127.0.0.1:{server.server_address[1]}")  # asked[0]: where it listens
    try:
        yield asked
    finally:
        server.shutdown()
        server.server_close()
        t.join(timeout=5)


@pytest.mark.parametrize(
    "block",
    [
        pytest.param(
            b,
            id=b.id,
            marks=[pytest.mark.skip(reason=f"not run: {b.not_run}")] if b.not_run else [],
        )
        for b in PYTHON_BLOCKS
    ],
)
def test_a_python_block_runs_as_written(
    block: Block, quickstart_dir: Path, model: Model, proxy: list[str], tmp_path: Path
) -> None:
    shutil.copytree(quickstart_dir, tmp_path, dirs_exist_ok=True)
    (tmp_path / "block.py").write_text(block.code)
    model.take()
    p = _run(tmp_path, [sys.executable, "block.py"], _env(tmp_path, model, proxy[0]))
    assert p.returncode == 0, f"{block.id} failed:\n{p.stdout}\n{p.stderr}"
    assert proxy[1:] == [], f"{block.id} tried to reach the network"
    asked = model.take()
    if re.search(r"run_sync\(|\.create\(", block.code):  # it calls a model: the scripted one
        assert asked, f"{block.id} called no model on 127.0.0.1"
        with Store.open(tmp_path / ".agentreel") as store:
            store.ingest()
            assert store.runs().height > 1, f"{block.id} recorded no run of its own"


def test_every_python_block_is_run_or_says_why_not() -> None:
    assert len(PYTHON_BLOCKS) > 20
    for b in PYTHON_BLOCKS:
        if b.not_run is not None:
            assert len(b.not_run) > 8, f"{b.id}: a skip must say why"
    ran = [b for b in PYTHON_BLOCKS if b.not_run is None]
    assert {b.page.name for b in ran} >= {"README.md", "python-api.md", "checks.md"}


def _readme_commands() -> list[tuple[int, str]]:
    """(line, command) of each `agentreel ...` line in the README's shell blocks."""
    out = []
    for b in blocks(ROOT / "README.md"):
        if b.lang not in ("bash", "sh", "console"):
            continue
        for i, raw in enumerate(b.code.splitlines(), start=b.line + 1):
            cmd = raw.split("  #", 1)[0].strip()
            if cmd.startswith("agentreel") and not cmd.startswith("agentreel serve"):
                out.append((i, cmd))
    return out


def test_the_commands_the_readme_gives_run(quickstart_dir: Path, tmp_path: Path) -> None:
    shutil.copytree(quickstart_dir, tmp_path, dirs_exist_ok=True)
    env = _env(tmp_path)
    p = _run(tmp_path, ["agentreel", "runs", "--json"], env)
    assert p.returncode == 0, p.stderr
    (run,) = json.loads(p.stdout)
    commands = _readme_commands()
    typed = {cmd.split()[1] if len(cmd.split()) > 1 else "" for _, cmd in commands}
    assert {"", "runs", "show", "replay", "record", "baseline", "check"} <= typed
    for line, cmd in commands:
        args = shlex.split(cmd.replace(EXAMPLE_RUN_ID, run["run_id"][:8]))
        p = _run(tmp_path, args, env)
        assert p.returncode == 0, f"README.md:{line}: {cmd}\n{p.stdout}\n{p.stderr}"
        if args[1:2] == ["show"]:
            assert p.stdout.startswith("nightly-eval  ok  run ")
        if args[1:2] == ["runs"]:
            assert "nightly-eval" in p.stdout
        if args[1:2] == ["record"]:
            assert "nightly-eval" in p.stderr  # the run it recorded is listed


def test_the_set_up_commands_install_what_each_needs_and_ci_runs_the_same() -> None:
    """The demo command installs the core package alone; the test command adds the extras
    (frameworks, dev tools), and CI installs and runs what the test command does."""
    setup = blocks(ROOT / "README.md")[0]
    assert setup.lang == "bash"
    demo, tests, *_ = (line.split("  #", 1)[0].strip() for line in setup.code.splitlines())
    assert demo.endswith(".venv/bin/agentreel demo")
    assert ".venv/bin/pip install -e . " in demo  # no extras: not `.[dev]`, not `.[all]`
    assert "[" not in demo
    assert tests.endswith(".venv/bin/python -m pytest")
    assert '.venv/bin/pip install -e ".[dev]"' in tests
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert any(line.startswith(".venv/bin/pip install") and '-e ".[dev]"' in line for line in ci)
    assert ".venv/bin/python -m pytest" in ci
