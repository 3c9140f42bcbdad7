"""gunicorn settings for the dashboard (Procfile: web). Sized for 2 cores.

Without users (DASHBOARD_USERS_FILE) it binds to 127.0.0.1 only: customer lists are
personal data and must not be served to the network without a login.
"""

import os

_users = os.environ.get("DASHBOARD_USERS_FILE")
_host = os.environ.get("HOST", "0.0.0.0" if _users else "127.0.0.1")
if not _users and _host not in ("127.0.0.1", "localhost", "::1"):
    raise SystemExit(f"no users configured: refusing to bind {_host}; set DASHBOARD_USERS_FILE")

bind = f"{_host}:{os.environ.get('PORT', '8050')}"
workers = 2  # one per core; the data is loaded once before forking (preload_app)
threads = 4  # callbacks wait on I/O (downloads, the background-callback poll)
preload_app = True
timeout = 120  # long fits run as background callbacks, not inside a request
graceful_timeout = 30


def worker_exit(server, worker):
    # Background jobs (fits) run in child processes of the worker: none outlives it.
    from dashboard.app import end_jobs

    ended = end_jobs()
    if ended:
        server.log.info("worker %s: stopped %d background job(s)", worker.pid, ended)
