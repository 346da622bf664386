"""A store the user may read but not write is still read: runs, show, export, check.

The reading commands open it read-only and leave the spool alone, saying how many
segments were not ingested. Root ignores file modes, so the first test denies writing
through `os.access` (what the commands ask); the second uses real modes and runs
where file modes bind.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from opentelemetry.sdk.trace import TracerProvider

import agentreel
from agentreel.cli import main
from agentreel.demo import run_demo
from agentreel.store import Store, spool_status
from tests.test_cli import cli


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    """Two ingested demo runs, and one more recorded into the spool but not ingested."""
    d = tmp_path / "store"
    for ingest in (True, False):
        agentreel.init(d, tracer_provider=TracerProvider())
        try:
            run_demo(2 if ingest else 1, seed=1, latency=0)
        finally:
            agentreel.shutdown()
        if ingest:
            with Store.open(d, create=True) as store:
                store.ingest()
    assert spool_status(d).pending_segments > 0
    return d


@pytest.fixture
def writing_denied(store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.access
    root = store_dir.resolve()

    def access(path: str | os.PathLike[str], mode: int, **kw: object) -> bool:
        if mode & os.W_OK and Path(path).resolve().is_relative_to(root):
            return False
        return real(path, mode, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "access", access)


def test_reading_commands_read_a_store_they_may_not_write(
    store_dir: Path, writing_denied: None, tmp_path: Path
) -> None:
    pending = spool_status(store_dir).pending_segments
    runner = CliRunner()
    r = runner.invoke(main, ["runs", "--json", "--dir", str(store_dir)])
    assert r.exit_code == 0, r.output
    runs = json.loads(r.stdout)
    assert len(runs) == 2  # what was ingested before
    assert f"the store is read-only for you: {pending} spool segment(s) not ingested" in (
        " ".join(r.stderr.split())
    )
    assert spool_status(store_dir).pending_segments == pending  # left for its owner

    r = runner.invoke(main, ["show", runs[0]["run_id"][:8], "--dir", str(store_dir)])
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("research  ")
    r = runner.invoke(
        main, ["diff", runs[0]["run_id"], runs[1]["run_id"], "--dir", str(store_dir), "--json"]
    )
    assert r.exit_code == 0, r.output

    out = tmp_path / "export.jsonl"
    r = runner.invoke(main, ["export", "--out", str(out), "--dir", str(store_dir), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["runs"] == 2

    r = runner.invoke(main, ["check", "--dir", str(store_dir)])
    assert r.exit_code in (0, 1), r.output
    assert "the results are not saved in the check history" in " ".join(r.stderr.split())
    with Store.open(store_dir, read_only=True) as store:
        assert store.check_results().is_empty()


@pytest.mark.skipif(
    os.geteuid() == 0, reason="root writes whatever the file modes say; run as another user"
)
def test_a_store_with_no_write_permission_is_read(store_dir: Path) -> None:
    paths = [store_dir, *store_dir.rglob("*")]
    modes = {p: p.stat().st_mode for p in paths}
    try:
        for p in paths:
            p.chmod(stat.S_IMODE(modes[p]) & ~0o222)
        r = cli("runs", "--json", "--dir", str(store_dir))
        assert r.returncode == 0, r.stderr
        assert len(json.loads(r.stdout)) == 2
        assert "spool segment(s) not ingested" in r.stderr
        r = cli("show", json.loads(r.stdout)[0]["run_id"], "--dir", str(store_dir))
        assert r.returncode == 0, r.stderr
    finally:
        for p in paths:
            p.chmod(stat.S_IMODE(modes[p]))
