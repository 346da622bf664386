"""A store the user may read but not write is still read: runs, show, export, check.

The reading commands open it read-only and leave the spool alone, saying how many
segments were not ingested. The first test denies writing through `os.access` (what
the commands ask), in process; the second makes the store really read-only: a read-only
bind mount for root (whom file modes do not stop), file modes for anyone else.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from opentelemetry.sdk.trace import TracerProvider

import agentreel
from agentreel.cli import main
from agentreel.demo import run_demo
from agentreel.store import Store, spool_status
from tests.test_cli import ROOT


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


_MOUNT_READ_ONLY = 'mount --bind "$1" "$2" && mount -o remount,bind,ro "$2" && shift 2 && exec "$@"'


def _read_only_cli(store_dir: Path, view: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`agentreel` run on a read-only view of `store_dir` at `view`: a read-only bind mount
    in a mount namespace of its own for root (whom file modes do not stop), else the
    store's own files with the write bits taken away."""
    env = {"PATH": "/usr/bin:/bin", "COLUMNS": "120", "HOME": str(view.parent)}
    if os.geteuid() != 0:
        for p in [store_dir, *store_dir.rglob("*")]:
            p.chmod(stat.S_IMODE(p.stat().st_mode) & ~0o222)

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "agentreel", *args, "--dir", str(store_dir)],
                capture_output=True,
                text=True,
                timeout=120,
                cwd=ROOT,
                env=env,
            )

        return run
    view.mkdir()
    prefix = ["unshare", "-m", "sh", "-c", _MOUNT_READ_ONLY, "sh", str(store_dir), str(view)]
    try:
        probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=30)
    except OSError:
        pytest.skip("no unshare here to make a read-only view of the store")
    if probe.returncode != 0:
        pytest.skip(f"cannot make a read-only mount here: {probe.stderr.decode().strip()}")

    def run_in_view(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*prefix, sys.executable, "-m", "agentreel", *args, "--dir", str(view)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
            env=env,
        )

    return run_in_view


def test_a_store_on_a_read_only_file_system_or_without_write_permission_is_read(
    store_dir: Path, tmp_path: Path
) -> None:
    modes = {p: p.stat().st_mode for p in [store_dir, *store_dir.rglob("*")]}
    pending = spool_status(store_dir).pending_segments
    try:
        agentreel_ro = _read_only_cli(store_dir, tmp_path / "view")
        r = agentreel_ro("runs", "--json")
        assert r.returncode == 0, r.stderr
        runs = json.loads(r.stdout)
        assert len(runs) == 2
        assert f"read-only for you: {pending} spool segment(s) not ingested" in " ".join(
            r.stderr.split()
        )
        r = agentreel_ro("show", runs[0]["run_id"][:8])
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("research  ")
        r = agentreel_ro("export", "--out", str(tmp_path / "out.jsonl"), "--json")
        assert r.returncode == 0, r.stderr
        r = agentreel_ro("check")
        assert r.returncode in (0, 1), r.stderr
        assert "not saved in the check history" in " ".join(r.stderr.split())
        r = agentreel_ro("gc")  # writes: refused in one line
        assert r.returncode == 2
        assert r.stderr.startswith("error: ")
        assert "Traceback" not in r.stderr
    finally:
        for p, mode in modes.items():
            p.chmod(stat.S_IMODE(mode))
    assert spool_status(store_dir).pending_segments == pending  # left for the store's owner
