"""The drain of ``agentreel serve`` in a process of its own (`DrainProcess`).

The receiver's threads decode requests in Python and hold the GIL while they do; a drain
run by a thread of the same process waited behind them for the GIL each time DuckDB
handed control back (a few hundred times a transaction), so under a flood a transaction
that takes 0.3 s alone took 2-5 s, and most of the flood was left to drain after it.
In a process of its own the drain has a core and a GIL of its own.

The protocol is a line each way: serve writes ``drain`` and reads back one JSON line,
``{"report": {...} | null}`` or ``{"error": TYPE, "message": TEXT}``; ``stop`` (or the
end of its input, when serve is gone) ends the worker. The worker answers on a copy of
its standard output, which it points at its standard error, so that nothing the drain
prints can break a reply. It ignores SIGINT: a Ctrl-C reaches the whole process group,
and serve, which handles it, asks for the last drain itself.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any, NoReturn

from agentreel.store._ingest import IngestReport

__all__ = ["DrainFailed", "DrainProcess"]

log = logging.getLogger("agentreel")


#: The worker's first lines: find this agentreel (see `DrainProcess._start`), then run.
_BOOT = """
import importlib.util, os, sys
root = sys.argv[1]
spec = importlib.util.find_spec("agentreel")
origin = spec.origin if spec is not None else None
if origin is None or not os.path.realpath(origin).startswith(os.path.join(root, "")):
    sys.path.insert(0, root)
from agentreel.store._drain_worker import main
main()
"""


class DrainFailed(Exception):
    """A drain in the worker failed; the message is that of the worker's exception."""


def _report(d: dict[str, Any]) -> IngestReport:
    """The `IngestReport` a reply carries (JSON made the rejected pairs lists)."""
    return IngestReport(**{**d, "rejected": [tuple(r) for r in d["rejected"]]})


class DrainProcess:
    """A worker process that drains the store at `store_dir` when asked (`drain`).

    Started at the first `drain` (and again after one that died); `close` ends it.
    """

    def __init__(self, store_dir: Path) -> None:
        self.store_dir = store_dir
        self._proc: subprocess.Popen[bytes] | None = None
        #: no worker could be started: drains run in this process
        self.in_process = False

    def _start(self) -> subprocess.Popen[bytes]:
        # The worker imports this process's agentreel: the one the interpreter finds,
        # unless that is none or another copy (this one imported from a checkout, say),
        # and only then is this one's directory put first (not always: for an installed
        # package that is site-packages, which must not come before the standard library).
        package_root = str(Path(__file__).resolve().parents[2])
        return subprocess.Popen(
            [sys.executable, "-c", _BOOT, package_root, str(self.store_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )

    def start(self) -> None:
        """Start the worker now (else the first `drain` does): its imports then happen
        before a drain is asked for. If no process can be started (an interpreter that
        cannot run another), drains run in this process from then on, said once."""
        if self._proc is None and not self.in_process:
            try:
                self._proc = self._start()
            except OSError as e:
                self.in_process = True
                log.warning(
                    "agentreel serve: cannot start a process to drain in (%s); "
                    "draining in this one",
                    e,
                )

    def drain(self) -> IngestReport | None:
        """One drain in the worker: its report, None when nothing waited or the store was
        held elsewhere. Raises `DrainFailed` when the drain failed, and when the worker
        had ended (the next drain starts another)."""
        if self._proc is not None and self._proc.poll() is not None:
            self._ended(self._proc)
        self.start()
        if self.in_process:
            from agentreel._spool import SpoolPaths
            from agentreel.store._serve import _drain_once

            return _drain_once(self.store_dir, SpoolPaths(self.store_dir))
        proc = self._proc
        assert proc is not None
        assert proc.stdin is not None
        assert proc.stdout is not None
        try:
            proc.stdin.write(b"drain\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
        except OSError:
            line = b""
        if not line:
            self._ended(proc)
        reply = json.loads(line)
        if "error" in reply:
            raise DrainFailed(reply["message"] or reply["error"])
        return _report(reply["report"]) if reply["report"] is not None else None

    def _ended(self, proc: subprocess.Popen[bytes]) -> NoReturn:
        code = proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        self._proc = None
        raise DrainFailed(f"the drain process ended (exit code {code})")

    def close(self, timeout: float = 60.0) -> None:
        """End the worker (after the drain it may be running)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            assert proc.stdin is not None
            proc.stdin.write(b"stop\n")
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _ingest_modules() -> None:
    """Import the prices a drain looks up (when installed) before a drain is asked for;
    the store's own modules came with `_drain_once`."""
    with contextlib.suppress(ImportError):
        import genai_prices  # noqa: F401


def _serve_requests(store_dir: Path, replies: IO[bytes]) -> None:
    from agentreel._spool import SpoolPaths
    from agentreel.store._attach import _get_hub
    from agentreel.store._markers import stop_draining
    from agentreel.store._serve import _drain_once

    paths = SpoolPaths(store_dir)
    _ingest_modules()
    # serve's request threads keep a core busy decoding, so DuckDB runs the drain on
    # one thread: on two it took turns with them. 16 senders, 200,000 spans, 3 pairs:
    # 31,400-31,900 spans/s committed against 28,400-30,600, and less CPU.
    _get_hub().execute("SET threads = 1")
    try:
        for line in sys.stdin.buffer:
            if line.strip() != b"drain":
                break
            try:
                got = _drain_once(store_dir, paths)
                reply: dict[str, Any] = {"report": asdict(got) if got is not None else None}
            except Exception as e:  # reported to serve, which logs it and tries again
                reply = {"error": type(e).__name__, "message": str(e)}
            try:
                replies.write(json.dumps(reply).encode() + b"\n")
                replies.flush()
            except BrokenPipeError:  # serve is gone; what was drained is committed
                return
    finally:
        stop_draining(paths)


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # what the drain prints goes to standard error, not into a reply
    sys.stdout = sys.stderr
    _serve_requests(Path(sys.argv[-1]), replies)


if __name__ == "__main__":
    main()
