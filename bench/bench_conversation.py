"""Store growth of long conversations: content-addressed inputs against inputs stored whole.

Run by hand (not in CI)::

    .venv/bin/python bench/bench_conversation.py     # about half a minute

For each length T (turns), one run is recorded with the real tracer: an agent that,
turn after turn, adds a user message, calls an ``@agentreel.llm`` function with the
whole conversation so far, calls a tool and adds its result, so the LLM inputs of
the run hold O(T²) messages. The spool is drained twice into fresh stores: as
agentreel does (long LLM inputs split into the ``blobs`` hash chains), and with the
split turned off (every input stored whole, as before schema version 3). For each it
reports the characters of input text stored (inputs plus the nodes they reach),
the DuckDB file size after a checkpoint, the drain time, and the time of
``Store.spans`` (which gives inputs back whole). The growth exponent between the two
longest runs shows linear (about 1) against quadratic (about 2) growth.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import shutil
import string
import tempfile
import time
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import TracerProvider

import agentreel
from agentreel.store import DB_NAME, Store, _blobs

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"

# Messages are seeded pseudo-random text over a vocabulary, so that they compress about
# as well as prose does and never repeat within a conversation (repeated synthetic text
# would flatter DuckDB's own compression of the whole inputs).
_rng = random.Random(7)
_VOCAB = [
    "".join(_rng.choice(string.ascii_lowercase) for _ in range(_rng.randint(2, 9)))
    for _ in range(3000)
]


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_VOCAB) for _ in range(words))


def record(path: Path, turns: int) -> str:
    agentreel.init(path, tracer_provider=TracerProvider(), max_payload_bytes=16 * 1024 * 1024)

    rng = random.Random(turns)

    @agentreel.llm(provider="openai", model="gpt-4.1-mini")
    def chat(messages: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "role": "assistant",
            "content": _text(rng, 80),
            "usage": {"input_tokens": 30 * len(messages), "output_tokens": 120},
        }

    @agentreel.tool
    def fetch_table(item: int) -> str:
        return _text(rng, 120)

    @agentreel.agent(name="analyst")
    def analyse() -> str:
        msgs: list[dict[str, Any]] = [{"role": "system", "content": _text(rng, 100)}]
        for i in range(turns):
            msgs.append({"role": "user", "content": _text(rng, 40)})
            msgs.append({"role": "tool", "content": fetch_table(i)})
            msgs.append(chat(msgs))
            if i % 5 == 4:
                agentreel.flush()  # a segment every five turns, as a live agent writes
        return "done"

    try:
        with agentreel.run(f"conversation-{turns}") as r:
            analyse()
    finally:
        agentreel.shutdown()
    return r.run_id


def measure(spool_from: Path, run_id: str, *, split: bool, live: bool) -> dict[str, Any]:
    """Drain a copy of the spool: at once, or (`live`) one segment per open/close of the store."""
    d = Path(tempfile.mkdtemp(prefix="agentreel-conv-"))
    try:
        shutil.copytree(spool_from / "spool", d / "spool")
        saved = _blobs.MIN_PAYLOAD
        if not split:
            _blobs.MIN_PAYLOAD = 1 << 62
        try:
            t0 = time.perf_counter()
            if live:
                while True:
                    with Store.open(d, create=True) as store:
                        if not store.ingest(limit=1).segments:
                            break
            with Store.open(d, create=True) as store:
                store.ingest()
                drain_s = time.perf_counter() - t0
                store.sql("CHECKPOINT")
                t1 = time.perf_counter()
                spans = store.spans(run_id)
                read_s = time.perf_counter() - t1
                whole = int(spans["input"].str.len_chars().sum())
                digest = hashlib.blake2b(
                    "\x00".join(spans["input"].fill_null("").to_list()).encode()
                ).hexdigest()
                stored = store.sql(
                    "SELECT (SELECT sum(strlen(input)) FROM spans) "
                    "+ (SELECT coalesce(sum(bytes), 0) FROM blobs) AS n"
                )["n"][0]
                nodes = store.sql("SELECT count(*) AS n FROM blobs")["n"][0]
        finally:
            _blobs.MIN_PAYLOAD = saved
        return {
            "whole_chars": whole,
            "inputs_digest": digest,
            "stored_chars": int(stored),
            "nodes": int(nodes),
            "file_bytes": (d / DB_NAME).stat().st_size,
            "drain_s": drain_s,
            "spans_s": read_s,
        }
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--turns", type=int, nargs="+", default=[25, 50, 100, 200])
    ap.add_argument(
        "--live",
        action="store_true",
        help="drain one segment per open/close of the store, as the TUI's refresh does "
        "while the agent records (default: one drain of the whole spool)",
    )
    args = ap.parse_args()
    print("drain:", "one segment at a time" if args.live else "the whole spool at once")
    rows = []
    for turns in args.turns:
        d = Path(tempfile.mkdtemp(prefix="agentreel-conv-rec-"))
        try:
            run_id = record(d, turns)
            split = measure(d, run_id, split=True, live=args.live)
            whole = measure(d, run_id, split=False, live=args.live)
        finally:
            shutil.rmtree(d, ignore_errors=True)
        assert split["inputs_digest"] == whole["inputs_digest"], "inputs must read back the same"
        rows.append({"turns": turns, "split": split, "whole": whole})

    print(
        f"{'turns':>5} {'input chars':>12} {'stored (split)':>15} {'file split':>11} "
        f"{'file whole':>11} {'drain split/whole s':>20} {'spans() split/whole s':>22}"
    )
    for r in rows:
        s, w = r["split"], r["whole"]
        print(
            f"{r['turns']:>5} {s['whole_chars']:>12,} {s['stored_chars']:>15,} "
            f"{s['file_bytes'] / 2**20:>9.1f}Mi {w['file_bytes'] / 2**20:>9.1f}Mi "
            f"{s['drain_s']:>9.2f} / {w['drain_s']:<8.2f} {s['spans_s']:>10.3f} / {w['spans_s']:<8.3f}"
        )
    if len(rows) >= 2:
        a, b = rows[-2], rows[-1]
        k = math.log(b["turns"] / a["turns"])
        for label, key in (("split, stored chars", "split"), ("whole, stored chars", "whole")):
            g = math.log(b[key]["stored_chars"] / a[key]["stored_chars"]) / k
            print(f"growth exponent {a['turns']}→{b['turns']} turns, {label}: {g:.2f}")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"conversation-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"bench": "conversation", "live": args.live, "rows": rows}, indent=2))
    print(f"\nfull figures: {out.relative_to(BENCH_DIR.parent)}")


if __name__ == "__main__":
    main()
