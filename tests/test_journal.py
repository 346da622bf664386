"""Journals: records appended one batch at a time reach the drain once each, in order,
whether their writer seals them, dies, forks or meets a full disk."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentreel._journal import Journal, seal_abandoned
from agentreel._spool import SpoolPaths

ROOT = Path(__file__).resolve().parents[1]


def _line(i: int) -> bytes:
    return json.dumps({"span_id": f"{i:016x}", "text": "x\ny"}).encode() + b"\n"


def _sealed(paths: SpoolPaths) -> list[int]:
    """The records of the sealed segments, in the order a drain reads them."""
    out = []
    for p in paths.pending():
        out += [int(json.loads(ln)["span_id"], 16) for ln in p.read_bytes().splitlines()]
    return out


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 5), st.booleans()),  # (records in a batch, seal after it)
        max_size=30,
    ),
    st.integers(64, 2048),
)
def test_every_record_appended_is_sealed_once_in_order(
    tmp_path_factory: pytest.TempPathFactory, batches: list[tuple[int, bool]], cap: int
) -> None:
    paths = SpoolPaths(tmp_path_factory.mktemp("spool"))
    paths.create()
    j = Journal(paths.dir, "a1b2c3d4e5f6a7b8", max_bytes=cap)
    n = 0
    for size, seal in batches:
        j.append(b"".join(_line(i) for i in range(n, n + size)), size)
        n += size
        if seal:
            j.seal()
    assert _sealed(paths) + [-1] * j.records == list(range(n - j.records)) + [-1] * j.records
    j.seal()
    assert _sealed(paths) == list(range(n))
    assert not paths.journals()  # nothing left open once sealed
    assert j.seal() == 0  # nothing to seal: no empty segment


_WRITER = """
import os, sys, time
from pathlib import Path
from agentreel._journal import Journal
j = Journal(Path(sys.argv[1]), "a1b2c3d4e5f6a7b8")
for i in range(int(sys.argv[2])):
    j.append(b'{"span_id": "%016x"}\\n' % i, 1)
if sys.argv[3] == "torn":  # a write a full disk cut short
    os.write(j._fd, b'{"span_id": "00')
print("written", flush=True)
time.sleep(60)
"""


def _writer(dir_: Path, n: int, torn: bool = False) -> subprocess.Popen[str]:
    p = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(dir_), str(n), "torn" if torn else "whole"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert p.stdout is not None
    assert p.stdout.readline() == "written\n"
    return p


@pytest.mark.parametrize("torn", [False, True], ids=["whole", "torn last line"])
def test_a_live_writers_journal_is_left_and_a_dead_ones_is_sealed_whole(
    tmp_path: Path, torn: bool
) -> None:
    paths = SpoolPaths(tmp_path)
    paths.create()
    p = _writer(paths.dir, 5, torn)
    try:
        assert seal_abandoned(paths) == 0  # its writer holds it
        assert paths.pending() == []
        assert len(paths.journals()) == 1
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    assert seal_abandoned(paths) == 1
    assert _sealed(paths) == [0, 1, 2, 3, 4]  # the torn line cut, the whole ones kept
    assert paths.journals() == []


def test_an_empty_journal_is_left_to_its_writer(tmp_path: Path) -> None:
    paths = SpoolPaths(tmp_path)
    paths.create()
    (paths.dir / ".00000000000000000001-a1b2c3d4e5f6a7b8-0000000.jsonl.journal").touch()
    assert seal_abandoned(paths) == 0  # maybe just made: its writer locks it next
    assert len(paths.journals()) == 1
    assert paths.pending() == []


def test_a_forked_child_writes_a_journal_of_its_own(tmp_path: Path) -> None:
    paths = SpoolPaths(tmp_path)
    paths.create()
    j = Journal(paths.dir, "a1b2c3d4e5f6a7b8")
    j.append(_line(0), 1)
    pid = os.fork()
    if pid == 0:  # the child: its record goes to a journal of its own, which it seals
        code = 0
        try:
            j.append(_line(1), 1)
            code = 0 if j.seal() == 1 else 3
        except BaseException:
            code = 4
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert _sealed(paths) == [1]
    assert seal_abandoned(paths) == 0  # the parent's journal is still the parent's
    j.append(_line(2), 1)
    assert j.seal() == 2
    assert sorted(_sealed(paths)) == [0, 1, 2]


def test_a_failed_append_leaves_the_journal_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = SpoolPaths(tmp_path)
    paths.create()
    j = Journal(paths.dir, "a1b2c3d4e5f6a7b8")
    j.append(_line(0), 1)
    real_write = os.write

    def half_then_full(fd: int, data: bytes) -> int:  # a disk that fills mid-write
        if len(data) > 10:
            return real_write(fd, bytes(data)[:10])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(OSError, match="No space left"):
        j.append(_line(1) + _line(2), 2)
    monkeypatch.undo()
    j.append(_line(3), 1)
    assert j.seal() == 2
    assert _sealed(paths) == [0, 3]


def test_a_removed_spool_gets_the_records_back_from_the_open_journal(tmp_path: Path) -> None:
    paths = SpoolPaths(tmp_path / "store")
    paths.create()
    j = Journal(paths.dir, "a1b2c3d4e5f6a7b8")
    j.append(_line(0) + _line(1), 2)
    shutil.rmtree(paths.root)
    with pytest.raises(FileNotFoundError):
        j.seal()
    with pytest.raises(FileNotFoundError):  # not written into the removed file
        j.append(_line(2), 1)
    paths.create()
    assert j.seal() == 2
    assert _sealed(paths) == [0, 1]


def test_records_after_the_spool_was_removed_and_made_again_follow_the_earlier_ones(
    tmp_path: Path,
) -> None:
    paths = SpoolPaths(tmp_path / "store")
    paths.create()
    j = Journal(paths.dir, "a1b2c3d4e5f6a7b8")
    j.append(_line(0), 1)
    shutil.rmtree(paths.root)
    paths.create()  # as a writer does when a write finds the spool gone
    j.append(_line(1), 1)  # carried over with the earlier record into a new file
    assert len(paths.journals()) == 1
    assert j.seal() == 2
    assert _sealed(paths) == [0, 1]
