"""The live dashboard: every study in the storage, refreshed while studies run.

A small stdlib HTTP server (no extra dependency). Pages are the report's pages with a polling
script: each page asks ``/api/.../summary`` every ``refresh_s`` seconds for a cheap version string
(trial counts by state) and, when it changed, fetches the rebuilt page parts as JSON and redraws.
Study pages are rebuilt at most once per version and cached, and a study that keeps changing is
rebuilt at most every ``max(refresh_s, 2 x its last build time)`` seconds.

Routes (GET only; anything else is 404/405 - nothing is read from the file system by URL)::

    /                                   index of every study
    /study/<name>                       one study (name percent-encoded)
    /configs/<name>/trial-<N>.json      a Pareto trial's exported configuration
    /api/studies                        the index rows as JSON
    /api/index/summary, /api/index/page
    /api/study/<name>/summary, /api/study/<name>/page
    /static/plotly.min.js, /static/report.js, /static/report.css

The server is read-only: it never writes to the storage, and it refuses a storage that does not
exist rather than creating one. Only when asked (``push_to_optuna_dashboard=True``, the CLI's
``--push-figures``) and optuna-dashboard is installed does it save the hypervolume figure (which
optuna-dashboard lacks) into each study with ``optuna_dashboard.save_plotly_graph_object``.

Connections are served by a bounded pool of threads (``max_threads``), each connection with a
socket timeout (``timeout_s``) so a client that connects and sends nothing (or stops reading)
frees its thread when the timeout passes; past ``max_threads + max_queued`` open connections a
new one is answered ``503`` at once and closed instead of queued without bound (400 half-open
connections used to hold 402 threads).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import optuna
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from dashboards._data import StudyData, resolve_storage, study_data
from dashboards._figures import hypervolume_figure, study_reference
from dashboards._report import (
    StudyPage,
    export_records,
    index_sections,
    page_html,
    plotly_js_path,
    static_file,
    study_page,
    study_page_html,
    study_rows,
)
from dse import DseError


__all__ = ["DashboardServer", "make_server", "serve"]

_log = logging.getLogger(__name__)

_CONFIG_FILE = re.compile(r"^trial-(\d+)\.json$")
_CONTENT_TYPES = {
    "plotly.min.js": "text/javascript; charset=utf-8",
    "report.js": "text/javascript; charset=utf-8",
    "report.css": "text/css; charset=utf-8",
}


def _url_name(name: str) -> str:
    return quote(name, safe="")


@dataclass
class _Cached:
    version: str
    data: StudyData
    page: StudyPage
    records: dict[int, dict[str, Any]]  # exported Pareto configurations
    built_at: float  # time.monotonic()
    build_s: float


class _Dashboard:
    """The server's state: the storage, and one cached page per study and version."""

    def __init__(self, storage: BaseStorage, refresh_s: float, push: bool) -> None:
        self.storage = storage
        self.refresh_s = refresh_s
        self.refresh_ms = max(200, int(refresh_s * 1000))
        self.push = push
        self.cache: dict[str, _Cached] = {}
        self.hv_cache: dict[str, tuple[str, float | None]] = {}  # index column, per version
        self.lock = threading.Lock()
        self.plotly_js = plotly_js_path().read_bytes()

    # -- versions: cheap, polled ------------------------------------------------------------
    def study_id(self, name: str) -> int | None:
        for s in self.storage.get_all_studies():
            if s.study_name == name:
                return s._study_id
        return None

    def study_version(self, study_id: int) -> str:
        counts = [
            self.storage.get_n_trials(study_id, state=st)
            for st in (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED, TrialState.RUNNING)
        ]
        return f"{self.storage.get_n_trials(study_id)}:" + ":".join(map(str, counts))

    def index_version(self) -> str:
        rows = study_rows(self.storage)
        return json.dumps([[r["name"], r["n_trials"], r["complete"], r["fail"]] for r in rows])

    # -- pages --------------------------------------------------------------------------------
    def study(self, name: str) -> _Cached | None:
        study_id = self.study_id(name)
        if study_id is None:
            return None
        with self.lock:
            version = self.study_version(study_id)
            cached = self.cache.get(name)
            if cached is not None and cached.version != version:
                # A big study that changes on every poll would otherwise be rebuilt back to
                # back; keep the machine mostly free for the study itself.
                min_age = max(self.refresh_s, 2.0 * cached.build_s)
                if time.monotonic() - cached.built_at < min_age:
                    return cached
            if cached is None or cached.version != version:
                start = time.monotonic()
                data = study_data(optuna.load_study(study_name=name, storage=self.storage))
                page = study_page(data, f"/configs/{_url_name(name)}")
                records = export_records(data)
                now = time.monotonic()
                cached = _Cached(version, data, page, records, now, now - start)
                self.cache[name] = cached
                if self.push:
                    _push_to_optuna_dashboard(data)
            return cached

    def index_parts(self) -> tuple[str, str, str]:
        rows = study_rows(self.storage)
        links = {r["name"]: f"/study/{_url_name(r['name'])}" for r in rows}
        hvs = {r["name"]: self.index_hypervolume(r["name"]) for r in rows}
        summary = f"{len(rows)} studies in the storage (live; refreshes every " + (
            f"{self.refresh_ms / 1000:g} s)."
        )
        return self.index_version(), summary, index_sections(rows, links, hvs)

    def index_hypervolume(self, name: str) -> float | None:
        """A study's final hypervolume for the index, without building its page.

        Taken from the study's cached page when there is one; else the study is loaded once
        per version (trial counts) and only its hypervolume is kept.
        """
        from dashboards._report import final_hypervolume

        study_id = self.study_id(name)
        if study_id is None:
            return None
        version = self.study_version(study_id)
        cached = self.cache.get(name)
        if cached is not None and cached.version == version:
            return final_hypervolume(cached.data)
        known = self.hv_cache.get(name)
        if known is None or known[0] != version:
            data = study_data(optuna.load_study(study_name=name, storage=self.storage))
            known = (version, final_hypervolume(data))
            self.hv_cache[name] = known
        return known[1]

    def index_html(self) -> str:
        version, summary, sections = self.index_parts()
        return page_html(
            "dse studies (live)",
            summary,
            sections,
            assets="/static/",
            plotly_src="/static/plotly.min.js",
            details=False,
            body_attrs=self._live_attrs("/api/index", version),
        )

    def study_html(self, cached: _Cached) -> str:
        name = cached.data.name
        return study_page_html(
            cached.page,
            f"Study {name} (live)",
            assets="/static/",
            plotly_src="/static/plotly.min.js",
            nav='<a href="/">all studies</a>',
            body_attrs={
                "configs": f"/configs/{_url_name(name)}",
                **self._live_attrs(f"/api/study/{_url_name(name)}", cached.version),
            },
        )

    def _live_attrs(self, api: str, version: str) -> dict[str, str]:
        return {
            "live": "1",
            "refresh-ms": str(self.refresh_ms),
            "summary-url": f"{api}/summary",
            "page-url": f"{api}/page",
            "version": version,
        }


def _push_to_optuna_dashboard(data: StudyData) -> None:
    """Save our hypervolume figure into the study for optuna-dashboard, when it is installed."""
    try:
        from optuna_dashboard import save_plotly_graph_object
    except ImportError:
        return
    ref = study_reference(data)
    if ref is None:
        return
    try:
        fig, _ = hypervolume_figure(data, ref)
        save_plotly_graph_object(data.study, fig, graph_object_id="dse-hypervolume")
    except Exception:  # noqa: BLE001 - the optional integration must never break our server
        _log.exception("could not push the hypervolume figure to optuna-dashboard")


def _page_json(
    version: str, summary: str, sections: str, n_trials: int, figures: str, trials: str
) -> bytes:
    head = json.dumps(
        {"version": version, "summary": summary, "sections": sections, "n_trials": n_trials}
    )
    return (head[:-1] + f',"figures":{figures},"trials":{trials}}}').encode()


class _Handler(BaseHTTPRequestHandler):
    server: DashboardServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.timeout_s)  # per connection: see DashboardServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        _log.debug("%s - %s", self.address_string(), format % args)

    def _send(self, body: bytes, content_type: str, status: int = HTTPStatus.OK) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, obj: Any) -> None:
        self._send(json.dumps(obj).encode(), "application/json")

    def _not_found(self, what: str = "not found") -> None:
        self._send(what.encode(), "text/plain; charset=utf-8", HTTPStatus.NOT_FOUND)

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        self._send(b"read-only", "text/plain", HTTPStatus.METHOD_NOT_ALLOWED)

    do_PUT = do_DELETE = do_PATCH = do_POST  # noqa: N815

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        try:
            self._route()
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as err:  # noqa: BLE001 - report it to the page, keep serving
            _log.exception("error serving %s", self.path)
            message = f"error: {err}".encode()
            self._send(message, "text/plain", HTTPStatus.INTERNAL_SERVER_ERROR)

    def _route(self) -> None:
        dash = self.server.dashboard
        # Split the raw path first so a %2F inside a study name stays part of the name.
        raw = urlsplit(self.path).path
        parts = [unquote(p) for p in raw.split("/")[1:]]
        if parts in ([""], ["index.html"]):
            self._send(dash.index_html().encode(), "text/html; charset=utf-8")
        elif len(parts) == 2 and parts[0] == "static":
            name = parts[1]
            if name == "plotly.min.js":
                self._send(dash.plotly_js, _CONTENT_TYPES[name])
            elif name in _CONTENT_TYPES:
                self._send(static_file(name), _CONTENT_TYPES[name])
            else:
                self._not_found()
        elif len(parts) == 2 and parts[0] == "study":
            cached = dash.study(parts[1])
            if cached is None:
                self._not_found(f"no study named {parts[1]!r}")
            else:
                self._send(dash.study_html(cached).encode(), "text/html; charset=utf-8")
        elif len(parts) == 3 and parts[0] == "configs":
            match = _CONFIG_FILE.match(parts[2])
            cached = dash.study(parts[1]) if match else None
            number = int(match.group(1)) if match else -1
            if cached is None or number not in cached.records:
                self._not_found()
            else:
                config = json.dumps(cached.records[number], indent=2, default=str)
                self._send(config.encode(), "application/json")
        elif parts == ["api", "studies"]:
            self._json(study_rows(dash.storage))
        elif parts == ["api", "index", "summary"]:
            self._json({"version": dash.index_version()})
        elif parts == ["api", "index", "page"]:
            version, summary, sections = dash.index_parts()
            total = sum(r["n_trials"] for r in study_rows(dash.storage))
            self._send(
                _page_json(version, summary, sections, total, "{}", "{}"), "application/json"
            )
        elif len(parts) == 4 and parts[:2] == ["api", "study"] and parts[3] in ("summary", "page"):
            cached = dash.study(parts[2])
            if cached is None:
                self._not_found(f"no study named {parts[2]!r}")
            elif parts[3] == "summary":
                self._json({"version": cached.version, "n_trials": cached.page.n_trials})
            else:
                p = cached.page
                body = _page_json(
                    cached.version, p.summary, p.sections, p.n_trials, p.figures, p.trials
                )
                self._send(body, "application/json")
        else:
            self._not_found()


_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
         b"Content-Length: 5\r\nRetry-After: 2\r\nConnection: close\r\n\r\nbusy\n")


class DashboardServer(HTTPServer):
    """The live dashboard's HTTP server (``serve_forever`` / ``shutdown`` / ``url``).

    Args:
        address: (host, port) to bind.
        dashboard: the server's state.
        max_threads: connections served at once, each on a pool thread.
        max_queued: further connections accepted and queued for a thread; past that a
            connection is answered 503 and closed at once.
        timeout_s: socket timeout of each connection (idle keep-alive, slow clients).
    """

    def __init__(self, address: tuple[str, int], dashboard: _Dashboard, *,
                 max_threads: int = 16, max_queued: int = 64, timeout_s: float = 20.0) -> None:
        self.dashboard = dashboard
        self.timeout_s = timeout_s
        self._pool = ThreadPoolExecutor(max_threads, thread_name_prefix="dse-dashboard")
        self._slots = threading.BoundedSemaphore(max_threads + max_queued)
        super().__init__(address, _Handler)  # binds; closes itself (and the pool) on failure

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{host}:{port}/"

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            try:
                request.settimeout(1.0)
                request.sendall(_BUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            self._pool.submit(self._serve_connection, request, client_address)
        except RuntimeError:  # the pool is shut down: the server is closing
            self._slots.release()
            self.shutdown_request(request)

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except (TimeoutError, ConnectionError):
            pass  # a client that went quiet or away: its thread is free again
        except Exception:  # noqa: BLE001 - one bad connection must not stop the server
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            self._slots.release()

    def server_close(self) -> None:
        super().server_close()
        self._pool.shutdown(wait=False, cancel_futures=True)


def _bind(host: str, port: int, dashboard: _Dashboard, **limits: Any) -> DashboardServer:
    """The server bound to ``host:port``, or a one-line DseError saying why it cannot be."""
    if not 0 <= port <= 65535:
        raise DseError(f"port {port}: expected a port number in [0, 65535] (0 picks a free one)")
    try:
        return DashboardServer((host, port), dashboard, **limits)
    except socket.gaierror as exc:
        raise DseError(f"host {host!r}: cannot be resolved ({exc.strerror}); expected an "
                       "interface name or address such as 127.0.0.1") from None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            why = "is already in use; pick another with --port (0 picks a free one)"
        elif exc.errno == errno.EACCES:
            why = "needs privileges; pick a port above 1023"
        elif exc.errno == errno.EADDRNOTAVAIL:
            why = "is not an address of this machine"
        else:
            why = f"cannot be bound ({exc.strerror or exc})"
        raise DseError(f"{host}:{port} {why}") from None


def make_server(
    storage: str | os.PathLike[str] | BaseStorage,
    host: str = "127.0.0.1",
    port: int = 8050,
    refresh_s: float = 5.0,
    *,
    push_to_optuna_dashboard: bool = False,
    max_threads: int = 16,
    max_queued: int = 64,
    timeout_s: float = 20.0,
) -> DashboardServer:
    """Create (but don't start) the live dashboard server; ``port=0`` picks a free port.

    Args:
        storage: an Optuna storage, a storage URL, or a journal file path.
        host: interface to bind (loopback by default; pass ``0.0.0.0`` deliberately to share).
        port: TCP port.
        refresh_s: how often open pages poll for changes, in seconds.
        push_to_optuna_dashboard: also save the hypervolume figure into each study for
            optuna-dashboard when that package is installed (the only write the server makes;
            off by default: the dashboard is read-only unless asked).
        max_threads: connections served at once (a bounded thread pool).
        max_queued: further connections queued; past that a connection gets 503 at once.
        timeout_s: socket timeout of each connection, so idle or stalled clients free their
            thread.

    Raises:
        DseError: one line when the storage does not exist or cannot be opened, or the
            address cannot be bound (port in use, out of range, not this machine's).
    """
    dashboard = _Dashboard(resolve_storage(storage), refresh_s, push_to_optuna_dashboard)
    return _bind(host, port, dashboard, max_threads=max_threads, max_queued=max_queued,
                 timeout_s=timeout_s)


def serve(
    storage: str | os.PathLike[str] | BaseStorage,
    host: str = "127.0.0.1",
    port: int = 8050,
    refresh_s: float = 5.0,
    *,
    push_to_optuna_dashboard: bool = False,
) -> None:
    """Serve the live dashboard until interrupted (Ctrl-C).

    Args:
        storage: an Optuna storage, a storage URL, or a journal file path.
        host: interface to bind (loopback by default).
        port: TCP port (0 picks a free one; the URL is logged and printed).
        refresh_s: how often open pages poll for changes, in seconds.
        push_to_optuna_dashboard: see :func:`make_server`.
    """
    server = make_server(
        storage, host, port, refresh_s, push_to_optuna_dashboard=push_to_optuna_dashboard
    )
    print(f"dse dashboard on {server.url} (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
