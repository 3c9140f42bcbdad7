"""The Dash app: ``create_app`` builds it from the views (``views.VIEWS``); ``server`` is what
gunicorn serves.

Everything the page needs is served by the app itself (Bootstrap's CSS from the
bootstrap-flask package, Plotly and AG Grid from their Dash packages, our CSS from assets/):
no CDN, so it works offline and behind company proxies.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
from pathlib import Path

import diskcache
import flask_bootstrap
import psutil
from dash import Dash, DiskcacheManager
from flask import send_from_directory

from segmentation.demo import write_demo
from segmentation.demo.history import write_demo_history

from . import auth, views
from .fits import Heartbeat
from .store import DEMO_ID, DataStore
from .views import overview

ASSETS = Path(__file__).resolve().parent.parent / "assets"
BOOTSTRAP_CSS = Path(flask_bootstrap.__file__).parent / "static" / "bootstrap5" / "css"
DEFAULT_STORE = Path(tempfile.gettempdir()) / f"segmentation-dashboard-{os.getuid()}"
DEMO_CUSTOMERS = 5_000
DEMO_HISTORY = f"demo_history_{DEMO_CUSTOMERS}.db"

log = logging.getLogger("dashboard")


def create_app(
    data: str | Path | None = None,
    *,
    store_dir: str | Path | None = None,
    max_upload_mb: int = 50,
    users: dict[str, str] | None = None,
    upload_retention_hours: float | None = None,
    history: str | None = None,
) -> Dash:
    """Build the app and fit its default dataset once.

    Parameters
    ----------
    data : path, optional
        A transactions file, a customer table or a `segmentation run` output folder. Default:
        5,000 demo customers.
    store_dir : path, optional
        Where datasets, uploads and fitted models are kept (shared by server processes).
    max_upload_mb : int
        Largest upload accepted.
    users : dict, optional
        Name -> password hash; when given, every request needs a signed-in session.
    upload_retention_hours : float, optional
        How long uploads are kept (default ``$DASHBOARD_UPLOAD_RETENTION_HOURS`` or 24).
    history : str, optional
        URL of the database holding the data's segment_history (PostgreSQL, SQLite, DuckDB),
        for the movement view. Default: a run folder's segmentation.db; for the built-in demo
        data, a demo history (the demo scored every other week) made once in the store.
    """
    store_dir = Path(store_dir or os.environ.get("DASHBOARD_STORE") or DEFAULT_STORE)
    store = DataStore(store_dir, upload_retention_hours=upload_retention_hours)
    store.sweep(force=True)
    demo = data is None
    if demo:
        data = store_dir / f"demo_transactions_{DEMO_CUSTOMERS}.csv"
        if not data.exists():
            write_demo(data, DEMO_CUSTOMERS, seed=0)
        label = "demo data"
        history = history or f"sqlite:///{store_dir / DEMO_HISTORY}"
    else:
        label = Path(data).name
    store.add(data, label=label, dataset_id=DEMO_ID, history=history)
    # fit once, before any request (the operator's data: no time limit), and compute what every
    # first page needs before gunicorn forks (preload_app): the workers share it
    ws = store.get(DEMO_ID, "auto", time_limited=False)
    overview.warm(ws)
    if demo and not (store_dir / DEMO_HISTORY).exists():
        write_demo_history(data, ws.bundle, history)

    app = Dash(
        __name__,
        assets_folder=str(ASSETS),
        external_stylesheets=["/vendor/bootstrap/bootstrap.min.css"],
        title="Customer segments",
        update_title=None,
        suppress_callback_exceptions=False,
    )
    app.server.add_url_rule(
        "/vendor/bootstrap/<path:filename>", "bootstrap_css",
        lambda filename: send_from_directory(BOOTSTRAP_CSS, filename),
    )
    app.server.config["MAX_CONTENT_LENGTH"] = int(max_upload_mb * 1_000_000 * 1.4) + 1_000_000  # base64 overhead
    # A long sqlite timeout: job processes of many page loads write their progress at once.
    cache = diskcache.Cache(str(store_dir / "callback-cache"), timeout=120)
    settings = views.Settings(max_upload_mb, JobManager(cache, heartbeats=store_dir / "heartbeats"))
    app.layout = views.page(settings)
    views.register(app, store, settings)
    if users:
        auth.protect(app, users, store)

    @app.server.before_request
    def sweep_uploads():
        store.sweep()  # expired uploads, at most once a minute per process

    app.store = store  # for tests and benchmarks
    ready(app)
    return app


def ready(app: Dash) -> None:
    """Run Dash's one-time set-up now: Dash runs it on the first request, and a worker's other
    threads serving meanwhile answer 500 for scripts not yet registered (a blank first page)."""
    with app.server.test_request_context("/"):
        app._setup_server()


class JobManager(DiskcacheManager):
    """Dash's disk-cache manager, but a job that ends while its poll looks at it is "not
    running", not a 500 (psutil.NoSuchProcess between two checks); and each poll of a running
    job is a heartbeat in ``heartbeats`` (a job whose page stopped polling cancels its fit)."""

    def __init__(self, cache, heartbeats: Path, **kwargs):
        super().__init__(cache, **kwargs)
        self.handle = _Serialised(cache)
        self.heartbeats = Path(heartbeats)

    def call_job_fn(self, key, job_fn, args, context):
        # Fork only while no thread of this worker is inside SQLite: a job forked mid-transaction
        # inherits SQLite's in-process lock records and waits on them until diskcache times out.
        with self.handle.lock:
            return super().call_job_fn(key, job_fn, args, context)

    def job_running(self, job):
        try:
            running = super().job_running(job)
        except psutil.NoSuchProcess:
            return False
        if running:
            Heartbeat.beat(self.heartbeats, job)
        return running

    def terminate_unhealthy_job(self, job):
        try:
            return super().terminate_unhealthy_job(job)
        except psutil.NoSuchProcess:
            return False


class _Serialised:
    """A diskcache.Cache whose calls from this process's threads take one lock (held while a job
    is forked, see ``JobManager.call_job_fn``)."""

    def __init__(self, cache):
        self.cache, self.lock = cache, threading.RLock()

    def __getattr__(self, name):
        attr = getattr(self.cache, name)
        if not callable(attr):
            return attr
        if name == "transact":
            return lambda *a, **kw: self._held(attr(*a, **kw))

        def call(*a, **kw):
            with self.lock:
                return attr(*a, **kw)
        return call

    @contextlib.contextmanager
    def _held(self, context):
        with self.lock, context as value:
            yield value


def end_jobs() -> int:
    """Stop this process's background-job processes (a worker exiting); returns how many."""
    children = psutil.Process().children(recursive=True)
    for child in children:
        child.kill()
    psutil.wait_procs(children, timeout=10)
    return len(children)


def __getattr__(name: str):
    # `gunicorn dashboard.app:server` builds the app on first access, from the environment;
    # importing this module (tests do) builds nothing.
    if name in ("app", "server"):
        app = create_app(
            os.environ.get("DASHBOARD_DATA") or None,
            max_upload_mb=int(os.environ.get("DASHBOARD_MAX_UPLOAD_MB", "50")),
            users=auth.load_users(),
            history=os.environ.get("DASHBOARD_HISTORY") or None,
        )
        globals().update(app=app, server=app.server)
        return globals()[name]
    raise AttributeError(name)
