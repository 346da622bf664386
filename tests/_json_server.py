"""A JSON-over-HTTP server on 127.0.0.1 for the tests' scripted model providers.

Each provider (tests/conformance/_provider.py, tests/integrations/_stub_llm.py, the
README blocks' model) decides only what to answer; this serves it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Answer", "json_server"]

#: ``answer(path, body, raw)``: the reply to a POST (its parsed JSON and its bytes), or
#: None for a 404.
Answer = Callable[[str, dict[str, Any], bytes], "dict[str, Any] | None"]


@contextmanager
def json_server(answer: Answer) -> Iterator[str]:
    """Serve `answer` on a free port of 127.0.0.1 until the block ends; yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            reply = answer(self.path, json.loads(raw or b"{}"), raw)
            if reply is None:
                self.send_error(404)
                return
            data = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        t.join(timeout=5)
