"""``python -m dashboard [--data PATH] [--port 8050]``: serve the dashboard."""

from __future__ import annotations

import argparse
import os
import sys

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboard", description="Serve the segmentation dashboard.")
    parser.add_argument("--data", help="transactions file, customer table or `segmentation run` output folder (default: demo data)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8050")))
    parser.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1; 0.0.0.0 needs users)")
    parser.add_argument("--store", help="folder for datasets and fitted models")
    parser.add_argument("--history", metavar="URL", help="database with the data's segment_history for the movement "
                        "view, e.g. postgresql://me@host/bank (default: a run folder's segmentation.db)")
    parser.add_argument("--max-upload-mb", type=int, default=50)
    parser.add_argument("--upload-retention-hours", type=float, default=None,
                        help="delete uploads this long after they were made (default $DASHBOARD_UPLOAD_RETENTION_HOURS or 24)")
    parser.add_argument("--debug", action="store_true", help="Dash debug mode (never on a shared server)")
    args = parser.parse_args(argv)

    from segmentation.errors import InputError

    from .app import create_app
    from .auth import USERS_FILE_ENV, load_users

    users = load_users()
    host = args.host or ("0.0.0.0" if users else "127.0.0.1")
    if not users and host not in LOOPBACK:
        print(f"error: no users configured: refusing to listen on {host}; set {USERS_FILE_ENV} "
              "(python -m dashboard.auth add NAME) to share the dashboard", file=sys.stderr)
        return 2
    try:
        app = create_app(args.data, store_dir=args.store, max_upload_mb=args.max_upload_mb, users=users,
                         upload_retention_hours=args.upload_retention_hours, history=args.history)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not users:
        print(f"no users configured: listening on {host} only (set {USERS_FILE_ENV} to require a login)")
    print(f"dashboard on http://{host}:{args.port}/")
    app.run(host=host, port=args.port, debug=args.debug)
    return 0


if __name__ == "__main__":
    sys.exit(main())
