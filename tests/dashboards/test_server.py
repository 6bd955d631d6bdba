from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import optuna
import pytest

from dashboards._server import DashboardServer, make_server


@pytest.fixture
def server(
    demo_storage: optuna.storages.BaseStorage, studies: ModuleType
) -> Iterator[DashboardServer]:
    with studies.running(make_server(demo_storage, port=0, refresh_s=0.5)) as srv:
        yield srv


def get(srv: DashboardServer, path: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(srv.url.rstrip("/") + path, timeout=30) as r:
            return r.status, r.headers["Content-Type"], r.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read()


def test_binds_loopback_by_default(server: DashboardServer) -> None:
    assert server.url.startswith("http://127.0.0.1:")


def test_index_and_study_pages(server: DashboardServer) -> None:
    status, ctype, body = get(server, "/")
    assert status == 200 and ctype.startswith("text/html")
    assert b'href="/study/demo-zdt1"' in body
    status, _, body = get(server, "/study/demo-zdt1")
    assert status == 200
    assert b'src="/static/plotly.min.js"' in body and b'data-live="1"' in body
    status, ctype, body = get(server, "/static/plotly.min.js")
    assert status == 200 and "javascript" in ctype and len(body) > 1_000_000
    status, _, body = get(server, "/api/studies")
    assert [r["name"] for r in json.loads(body)] == ["demo-zdt1"]


def _index_hv(page: str) -> str:
    row = re.findall(r'<tr data-study="demo-zdt1">(.*?)</tr>', page)[0]
    return re.findall(r"<td>([^<]*)</td>", row)[-1]


def test_index_fills_the_hypervolume_column_without_opening_a_study(
    server: DashboardServer, demo_storage: optuna.storages.BaseStorage, studies: ModuleType,
    tmp_path: Path,
) -> None:
    from dashboards import build_report

    status, _, body = get(server, "/")
    live = _index_hv(body.decode())
    offline = build_report(demo_storage, None, tmp_path / "r1").read_text()
    assert status == 200 and float(live) > 0 and live == _index_hv(offline)
    # New trials: the index's number follows (recomputed for the new version only).
    study = optuna.load_study(study_name="demo-zdt1", storage=demo_storage)
    study.add_trials(studies.demo_trials(5, seed=11, start=200))
    _, _, body = get(server, "/")
    offline = build_report(demo_storage, None, tmp_path / "r2").read_text()
    assert _index_hv(body.decode()) == _index_hv(offline)


def test_page_json_and_configs(server: DashboardServer) -> None:
    status, _, body = get(server, "/api/study/demo-zdt1/page")
    page = json.loads(body)
    assert status == 200 and page["n_trials"] == 61
    assert "pareto" in page["figures"] and "hypervolume" in page["figures"]
    front = [n for n, t in page["trials"].items() if t["pareto"]]
    status, ctype, body = get(server, f"/configs/demo-zdt1/trial-{front[0]}.json")
    assert status == 200 and ctype == "application/json"
    assert json.loads(body)["trial"] == int(front[0])


def test_summary_version_follows_new_trials(
    server: DashboardServer, demo_storage: optuna.storages.BaseStorage, studies: ModuleType
) -> None:
    before = json.loads(get(server, "/api/study/demo-zdt1/summary")[2])
    study = optuna.load_study(study_name="demo-zdt1", storage=demo_storage)
    study.add_trials(studies.demo_trials(5, seed=9, start=100))
    # Rebuilds are rate-limited (at most every refresh_s, or twice the build time), so the new
    # count shows up within a few polls; the deadline only bounds a hang (builds are slow on a
    # loaded machine, and twice a slow build is a long wait).
    deadline = time.monotonic() + 300
    after = before
    while after["n_trials"] == 61 and time.monotonic() < deadline:
        time.sleep(0.2)
        after = json.loads(get(server, "/api/study/demo-zdt1/summary")[2])
    assert (before["n_trials"], after["n_trials"]) == (61, 66)
    assert before["version"] != after["version"]
    page = json.loads(get(server, "/api/study/demo-zdt1/page")[2])
    assert page["version"] == after["version"] and len(page["trials"]) == 66


@pytest.mark.parametrize(
    "path",
    [
        "/static/../../etc/passwd",
        "/static/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/static/..%2fconftest.py",
        "/../../etc/passwd",
        "/study/nope",
        "/configs/demo-zdt1/..%2f..%2fetc%2fpasswd",
        "/configs/demo-zdt1/trial-99999.json",
        "/api/study/nope/page",
    ],
)
def test_only_its_own_pages_are_served(server: DashboardServer, path: str, tmp_path: Path) -> None:
    status, _, body = get(server, path)
    assert status == 404
    assert b"root:" not in body


def test_read_only(server: DashboardServer) -> None:
    req = urllib.request.Request(server.url, data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 405


def test_pushes_hypervolume_to_optuna_dashboard_when_installed(
    demo_storage: optuna.storages.BaseStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys
    import types

    saved: list[tuple[str, str]] = []
    fake = types.ModuleType("optuna_dashboard")

    def save_plotly_graph_object(study: optuna.Study, fig: object, *, graph_object_id: str) -> str:
        saved.append((study.study_name, graph_object_id))
        return graph_object_id

    fake.save_plotly_graph_object = save_plotly_graph_object  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "optuna_dashboard", fake)
    srv = make_server(demo_storage, port=0)  # read-only unless asked: nothing is pushed
    try:
        assert srv.dashboard.study("demo-zdt1") is not None
    finally:
        srv.server_close()
    assert saved == []
    srv = make_server(demo_storage, port=0, push_to_optuna_dashboard=True)
    try:
        assert srv.dashboard.study("demo-zdt1") is not None
        assert srv.dashboard.study("demo-zdt1") is not None  # cached: pushed once
    finally:
        srv.server_close()
    assert saved == [("demo-zdt1", "dse-hypervolume")]


def test_study_names_with_slashes_and_markup(studies: ModuleType, tmp_path: Path) -> None:
    from urllib.parse import quote

    storage = studies.journal(tmp_path / "j.log")
    name = "a/b <x>"
    study = studies.make_study(storage, name, ["minimize", "minimize"])
    study.add_trials([studies.simple_trial(k, [k, 5 - k], {"p": k / 5}) for k in range(5)])
    with studies.running(make_server(storage, port=0)) as srv:
        status, _, body = get(srv, "/")
        assert status == 200 and f'href="/study/{quote(name, safe="")}"'.encode() in body
        assert b"a/b <x>" not in body and b"a/b &lt;x&gt;" in body
        status, _, body = get(srv, f"/study/{quote(name, safe='')}")
        assert status == 200 and b"Study a/b &lt;x&gt;" in body
        status, _, body = get(srv, f"/configs/{quote(name, safe='')}/trial-0.json")
        assert status == 200 and json.loads(body)["trial"] == 0


@contextlib.contextmanager
def _idle_clients(
    storage: optuna.storages.BaseStorage, studies: ModuleType, n: int, **limits: float
) -> Iterator[tuple[DashboardServer, list[socket.socket]]]:
    """A running server with ``n`` connections open that never send a request."""
    srv = make_server(storage, port=0, **limits)  # type: ignore[arg-type]
    with studies.running(srv):
        host, port = srv.server_address[:2]
        idle = [socket.create_connection((str(host), port), timeout=60) for _ in range(n)]
        try:
            yield srv, idle
        finally:
            for sock in idle:
                sock.close()


def test_connections_past_the_pool_get_503_and_threads_stay_bounded(
    demo_storage: optuna.storages.BaseStorage, studies: ModuleType
) -> None:
    limits = {"max_threads": 2, "max_queued": 2, "timeout_s": 600}
    with _idle_clients(demo_storage, studies, 30, **limits) as (_, idle):
        # Two are held by the pool's threads and two queue; the other 26 get 503 at once.
        replies = [sock.recv(64) for sock in idle[4:]]
        assert all(r.startswith(b"HTTP/1.1 503") for r in replies)
        pool = [t for t in threading.enumerate() if t.name.startswith("dse-dashboard")]
        assert len(pool) <= 2


def test_an_idle_connection_times_out_and_frees_its_thread(
    demo_storage: optuna.storages.BaseStorage, studies: ModuleType
) -> None:
    limits = {"max_threads": 1, "max_queued": 1, "timeout_s": 0.5}
    with _idle_clients(demo_storage, studies, 1, **limits) as (srv, idle):
        # The only thread is held by a connection that never sends a request; the request
        # below is answered once that connection has timed out.
        assert get(srv, "/api/index/summary")[0] == 200
        assert idle[0].recv(64) == b""  # the server closed the idle connection


def test_busy_port_and_bad_port_are_one_line(
    demo_storage: optuna.storages.BaseStorage, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dse._errors import DseError
    from dse.cli import main

    srv = make_server(demo_storage, port=0)
    try:
        port = srv.server_address[1]
        with pytest.raises(DseError, match="already in use"):
            make_server(demo_storage, port=port)
        journal = tmp_path / "s.journal"
        optuna.copy_study(from_study_name="demo-zdt1", from_storage=demo_storage,
                          to_storage=optuna.storages.JournalStorage(
                              optuna.storages.journal.JournalFileBackend(str(journal))))
        assert main(["dashboard", "--storage", str(journal), "--port", str(port)]) == 2
        assert main(["dashboard", "--storage", str(journal), "--port", "70000"]) == 2
    finally:
        srv.server_close()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("dse: error:") for line in err)
    assert "already in use" in err[0]


def test_a_missing_storage_is_refused_not_created(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from dse.cli import main

    typo = tmp_path / "typo.journal"
    assert main(["dashboard", "--storage", str(typo), "--port", "0"]) == 2
    assert not typo.exists() and not list(tmp_path.iterdir())
    assert capsys.readouterr().err.count("\n") == 1
