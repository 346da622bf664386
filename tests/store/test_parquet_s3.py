"""A Parquet dataset read in place on S3-compatible storage: a local moto server holds
the bucket, and the CLI reads it through httpfs when DuckDB can load it, else s3fs."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from opentelemetry.sdk.trace import TracerProvider

import agentreel
from agentreel import AgentreelError
from agentreel.demo import run_demo
from agentreel.store import Store
from tests.conftest import Recorded

s3fs = pytest.importorskip("s3fs", reason="s3fs is not installed (pip install 'agentreel[s3]')")
moto_server = pytest.importorskip(
    "moto.server", reason="moto's server is not installed (pip install 'moto[server]')"
)

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = "agentreel-parquet.json"
BUCKET = "agentreel-test"
REGION = "eu-west-1"


def _fs(endpoint: str) -> s3fs.S3FileSystem:
    return s3fs.S3FileSystem(
        key="test",
        secret="test",
        endpoint_url=endpoint,
        client_kwargs={"region_name": REGION},
        skip_instance_cache=True,
    )


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """A moto server on a free local port, holding the (empty) bucket."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        _fs(url).mkdir(BUCKET)
        yield url
    finally:
        server.stop()


def _env(endpoint: str) -> dict[str, str]:
    """What the CLI reads S3 with: credentials, region, the server's endpoint."""
    return {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,
    }


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentreel", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "HOME": str(ROOT), **env},
    )


def _upload(local: Path, endpoint: str, prefix: str) -> None:
    """Upload a dataset the way docs/scaling.md says: its data files, then the manifest."""
    fs = _fs(endpoint)
    files = sorted(p for p in local.rglob("*.parquet"))
    assert files, "the export wrote no Parquet files"
    for p in files:
        fs.put_file(str(p), f"{BUCKET}/{prefix}/{p.relative_to(local).as_posix()}")
    fs.put_file(str(local / MANIFEST), f"{BUCKET}/{prefix}/{MANIFEST}")


def test_the_cli_reads_a_dataset_in_place_on_s3(tmp_path: Path, endpoint: str) -> None:
    store_dir = tmp_path / "store"
    Recorded(store_dir, TracerProvider())
    try:
        run_demo(4, seed=5, latency=0)
    finally:
        agentreel.shutdown()
    with Store.open(store_dir, create=True) as store:
        store.ingest()
    local = tmp_path / "ds"
    r = _cli("export", "--format", "parquet", "--out", str(local), "--dir", str(store_dir), env={})
    assert r.returncode == 0, r.stderr
    _upload(local, endpoint, "archive/ds")
    url = f"s3://{BUCKET}/archive/ds"
    env = _env(endpoint)

    r = _cli("runs", "--dir", url, "--json", env=env)
    assert r.returncode == 0, r.stderr
    remote_runs = json.loads(r.stdout)
    local_runs = json.loads(_cli("runs", "--dir", str(local), "--json", env={}).stdout)
    assert len(remote_runs) == 4
    assert remote_runs == local_runs

    run_id = local_runs[0]["run_id"]
    remote_show = _cli("show", run_id, "--dir", url, env=env)
    assert remote_show.returncode == 0, remote_show.stderr
    assert run_id in remote_show.stdout
    assert remote_show.stdout == _cli("show", run_id, "--dir", str(local), env={}).stdout

    remote_check = _cli("check", "--dir", url, "--format", "json", env=env)
    local_check = _cli("check", "--dir", str(local), "--format", "json", env={})
    assert remote_check.returncode == local_check.returncode, remote_check.stderr
    remote, here = json.loads(remote_check.stdout), json.loads(local_check.stdout)
    assert remote["current"]["runs"] == 4
    for key in ("status", "counts", "results"):  # not the id, timings or the clock's window
        assert remote[key] == here[key], key
    assert remote["current"]["spans"] == here["current"]["spans"]


def test_a_prefix_without_a_manifest_is_one_clear_error(endpoint: str) -> None:
    fs = _fs(endpoint)
    fs.pipe_file(f"{BUCKET}/half/spans/part-x.parquet", b"not yet a dataset")
    env = _env(endpoint)
    r = _cli("runs", "--dir", f"s3://{BUCKET}/half", env=env)
    assert r.returncode == 2
    assert f"no Parquet dataset at s3://{BUCKET}/half" in r.stderr
    assert MANIFEST in r.stderr
    assert "Traceback" not in r.stderr


def test_without_httpfs_or_s3fs_the_error_names_both_fixes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    con = duckdb.connect()
    try:
        con.execute("LOAD httpfs")
    except duckdb.Error:
        pass
    else:
        pytest.skip("httpfs is installed here, so reading s3:// needs neither fix")
    finally:
        con.close()
    monkeypatch.setitem(sys.modules, "s3fs", None)  # as if s3fs were not installed
    with pytest.raises(AgentreelError, match=r"httpfs.*INSTALL httpfs.*pip install s3fs"):
        Store.open(f"s3://{BUCKET}/ds")
