"""A damaged store file is one clear error naming it and the way out; `rebuild` is that way.

A DuckDB file cut short or overwritten once gave Python tracebacks from `runs`,
`show` and `ingest`. Now every command says which file is damaged and that
`agentreel rebuild` makes the store again from the spool archive, which it does.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from opentelemetry.sdk.trace import TracerProvider

import agentreel
from agentreel import StoreCorrupt
from agentreel.cli import main
from agentreel.store import DB_NAME, Store, rebuild
from agentreel.store._rebuild import CHECK_HISTORY_LOST


def _truncate(size: Callable[[int], int]) -> Callable[[Path], None]:
    return lambda db: os.truncate(db, size(db.stat().st_size))


def _flip(offset: int) -> Callable[[Path], None]:
    def flip(db: Path) -> None:
        data = bytearray(db.read_bytes())
        for i in range(offset, offset + 64):
            data[i] ^= 0xFF
        db.write_bytes(bytes(data))

    return flip


DAMAGE = {
    "emptied": _truncate(lambda n: 0),
    "cut to 100 bytes": _truncate(lambda n: 100),
    "cut in half": _truncate(lambda n: n // 2),
    "header overwritten": _flip(0),
    "first block overwritten": _flip(4096),
}


def _record(store_dir: Path, names: list[str]) -> None:
    agentreel.init(store_dir, tracer_provider=TracerProvider())
    try:
        for name in names:
            with agentreel.run(name):
                agentreel.tool(lambda: "looked up")()
    finally:
        agentreel.shutdown()


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of three runs (two drains, so the archive holds several segments)."""
    d = tmp_path_factory.mktemp("healthy") / "store"
    _record(d, ["first", "second"])
    with Store.open(d, create=True) as store:
        store.ingest()
    _record(d, ["third"])
    with Store.open(d) as store:
        store.ingest()
        assert store.runs().height == 3
    return d


def _runs(store_dir: Path) -> list[tuple[str, str, int]]:
    with Store.open(store_dir, read_only=True) as store:
        df = store.runs().sort("name")
    return list(zip(df["run_id"], df["name"], df["span_count"], strict=True))


def _cli(*args: str) -> tuple[int, str]:
    out = CliRunner().invoke(main, list(args))
    return out.exit_code, out.output


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_runs_show_and_ingest_name_the_damaged_file_and_the_way_out(
    healthy: Path, tmp_path: Path, damage: str
) -> None:
    store_dir = tmp_path / "store"
    shutil.copytree(healthy, store_dir)
    run_id = _runs(store_dir)[0][0]
    _record(store_dir, ["pending"])  # a segment for ingest to drain
    db = store_dir / DB_NAME
    DAMAGE[damage](db)
    for args in (["runs"], ["show", run_id], ["ingest"], ["runs", "--json"]):
        code, output = _cli(*args, "--dir", str(store_dir))
        assert code == 2, (args, output)
        assert f"the store file {db} is damaged" in output, (args, output)
        assert f"agentreel rebuild --dir {store_dir}" in output
        assert "segments of its spool (archived and pending)" in output
        assert "Traceback" not in output
    with pytest.raises(StoreCorrupt), Store.open(store_dir) as store:
        store.runs()


@pytest.mark.parametrize("damage", ["cut in half", "header overwritten"])
def test_rebuild_sets_the_file_aside_and_brings_every_run_back(
    healthy: Path, tmp_path: Path, damage: str
) -> None:
    store_dir = tmp_path / "store"
    shutil.copytree(healthy, store_dir)
    before = _runs(store_dir)
    db = store_dir / DB_NAME
    DAMAGE[damage](db)
    damaged_bytes = db.read_bytes()
    code, output = _cli("rebuild", "--dir", str(store_dir))
    assert code == 0, output
    assert "rebuilt the store from" in output
    assert "spans in 3 runs" in output
    assert "not rebuilt: the history of `agentreel check`" in output
    aside = [p for p in store_dir.iterdir() if p.name.startswith(f"{DB_NAME}.damaged-")]
    assert len(aside) == 1
    assert aside[0].read_bytes() == damaged_bytes  # kept as it was, for whoever wants it
    assert _runs(store_dir) == before
    code, output = _cli("runs", "--dir", str(store_dir))
    assert code == 0, output


def test_rebuild_refuses_a_store_that_reads_whole_unless_forced(
    healthy: Path, tmp_path: Path
) -> None:
    store_dir = tmp_path / "store"
    shutil.copytree(healthy, store_dir)
    before = _runs(store_dir)
    code, output = _cli("rebuild", "--dir", str(store_dir))
    assert code == 2
    assert "reads whole, so there is nothing to rebuild; pass --force" in output
    assert not [p for p in store_dir.iterdir() if ".damaged-" in p.name]
    archived = len(list((store_dir / "spool" / "archive").iterdir()))
    report = rebuild(store_dir, force=True)
    assert report.set_aside is not None
    assert (report.runs, report.segments) == (3, archived)
    assert _runs(store_dir) == before


def test_without_an_archive_the_error_and_rebuild_say_what_is_lost(
    healthy: Path, tmp_path: Path
) -> None:
    store_dir = tmp_path / "store"
    shutil.copytree(healthy, store_dir)
    shutil.rmtree(store_dir / "spool" / "archive")
    (store_dir / "spool" / "archive").mkdir()
    DAMAGE["header overwritten"](store_dir / DB_NAME)
    code, output = _cli("runs", "--dir", str(store_dir))
    assert code == 2
    assert "its spool archive is empty" in output
    assert "come back only from a backup of the file" in output
    code, output = _cli("rebuild", "--dir", str(store_dir))
    assert code == 0, output
    assert "spans in 0 runs" in output
    assert "not rebuilt: every run the old file held: the spool archive is empty" in output


class _Killed(BaseException):
    """Stands for the process dying at this point (nothing after it runs)."""


@pytest.mark.parametrize("killed_at", ["setting the file aside", "draining"])
def test_a_rebuild_killed_part_way_loses_no_run(
    healthy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, killed_at: str
) -> None:
    store_dir = tmp_path / "store"
    shutil.copytree(healthy, store_dir)
    before = _runs(store_dir)
    DAMAGE["header overwritten"](store_dir / DB_NAME)
    real_replace = os.replace

    def dies(src: os.PathLike[str] | str, dst: os.PathLike[str] | str) -> None:
        if killed_at == "setting the file aside" and Path(src).name == DB_NAME:
            raise _Killed
        real_replace(src, dst)

    monkeypatch.setattr("agentreel.store._rebuild.os.replace", dies)
    if killed_at == "draining":
        monkeypatch.setattr(Store, "ingest", lambda self, **kw: (_ for _ in ()).throw(_Killed()))
    with pytest.raises(_Killed):
        rebuild(store_dir)
    monkeypatch.undo()
    # the archived segments wait in the spool: the next rebuild, or the next drain of a
    # file already set aside, takes them all
    assert not list((store_dir / "spool" / "archive").glob("*.jsonl"))
    if killed_at == "setting the file aside":
        code, output = _cli("runs", "--dir", str(store_dir))
        assert code == 2
        assert "is damaged" in output
        assert "segments of its spool (archived and pending)" in output
        report = rebuild(store_dir)
        assert report.lost == [CHECK_HISTORY_LOST]  # nothing else: the segments were there
    else:
        code, output = _cli("ingest", "--dir", str(store_dir))
        assert code == 0, output
    assert _runs(store_dir) == before
