"""Login for the dashboard when users are configured (customer lists are personal data).

Users live in a file of ``name:hash`` lines, hashes made by Werkzeug's
``generate_password_hash`` (Flask's own, maintained, salted). Make the file with::

    python -m dashboard.auth add alice --file users.txt     # asks for the password

and point the app at it with ``DASHBOARD_USERS_FILE=users.txt``.

Signing in (``/login``) checks the hash once and starts a session (Flask-Login over Flask's
signed cookie); pages, callbacks and downloads then need that session, ``/logout`` ends it (and
deletes the session's uploads). Wrong attempts are limited per user name and per address
(Flask-Limiter); an unknown name costs the same hash check as a wrong password, so answers do
not tell which names exist. Scripts sign in the same way (POST ``/login``, keep the cookie).
"""

from __future__ import annotations

import argparse
import getpass
import html
import os
import secrets
import sys
import uuid
from pathlib import Path

import flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from werkzeug.security import check_password_hash, generate_password_hash

USERS_FILE_ENV = "DASHBOARD_USERS_FILE"
SECRET_ENV = "DASHBOARD_SECRET_KEY"
#: Wrong sign-ins allowed per user name and per address (Flask-Limiter's notation, per worker process).
PER_USER_LIMIT = os.environ.get("DASHBOARD_LOGIN_LIMIT_PER_USER", "5 per 15 minutes")
PER_ADDRESS_LIMIT = os.environ.get("DASHBOARD_LOGIN_LIMIT_PER_ADDRESS", "20 per 15 minutes")
#: Checked for an unknown name, so that it takes as long as a wrong password.
DUMMY_HASH = generate_password_hash(secrets.token_urlsafe(16))
OPEN_PATHS = ("/login", "/logout", "/vendor/", "/assets/")

LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in - Customer segments</title>
<link rel="stylesheet" href="/vendor/bootstrap/bootstrap.min.css"></head>
<body class="bg-light"><main class="container" style="max-width: 24rem; margin-top: 10vh">
<h1 class="h4 mb-3">Customer segments</h1>
{message}
<form method="post" action="/login{next}">
<label class="form-label" for="name">User</label>
<input class="form-control mb-2" id="name" name="name" autocomplete="username" required autofocus>
<label class="form-label" for="password">Password</label>
<input class="form-control mb-3" id="password" name="password" type="password" autocomplete="current-password" required>
<button class="btn btn-primary w-100" type="submit">Sign in</button>
</form></main></body></html>"""


def load_users(path: str | Path | None = None) -> dict[str, str]:
    """Name -> password hash from the users file (``$DASHBOARD_USERS_FILE`` by default)."""
    path = path or os.environ.get(USERS_FILE_ENV)
    if not path:
        return {}
    users = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, hashed = line.partition(":")
            users[name] = hashed
    if not users:
        raise SystemExit(f"{path}: no users in the file (add one with: python -m dashboard.auth add NAME --file {path})")
    return users


def verify(users: dict[str, str], name: str, password: str) -> bool:
    """Whether ``password`` is ``name``'s; as slow for an unknown name as for a wrong password."""
    known = name in users
    matches = check_password_hash(users[name] if known else DUMMY_HASH, password)
    return known and matches


class User(UserMixin):
    def __init__(self, name: str):
        self.id = name


def secret_key(folder: Path) -> str:
    """The key signing session cookies: ``$DASHBOARD_SECRET_KEY``, or one made once and kept
    (0600) in the store folder, so that every worker process and a restart accept the cookie."""
    if os.environ.get(SECRET_ENV):
        return os.environ[SECRET_ENV]
    path = folder / "secret_key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32))
    return path.read_text().strip()


def protect(app, users: dict[str, str], store=None) -> Limiter:
    """Require a signed-in session for everything the app serves but the login page."""
    server = app.server
    server.secret_key = secret_key(Path(store.root) if store is not None else Path.cwd())
    server.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                         REMEMBER_COOKIE_HTTPONLY=True, PERMANENT_SESSION_LIFETIME=8 * 3600)
    manager = LoginManager(server)
    manager.session_protection = "basic"
    manager.user_loader(lambda name: User(name) if name in users else None)
    limiter = Limiter(get_remote_address, app=server, storage_uri="memory://", default_limits=[],
                      headers_enabled=True)
    if store is not None:  # uploads are recorded with the signed-in session that made them
        store.upload_owner = lambda: flask.session.get("sid") if flask.has_request_context() else None

    def failed(response) -> bool:
        return response.status_code == 401

    @limiter.limit(PER_USER_LIMIT, key_func=lambda: "user:" + flask.request.form.get("name", ""), deduct_when=failed,
                   methods=["POST"])
    @limiter.limit(PER_ADDRESS_LIMIT, deduct_when=failed, methods=["POST"])
    def login():
        next_page = _local(flask.request.args.get("next"))
        query = f"?next={html.escape(next_page)}" if next_page != "/" else ""
        if flask.request.method == "GET":
            return LOGIN_PAGE.format(message="", next=query)
        name, password = flask.request.form.get("name", ""), flask.request.form.get("password", "")
        if not verify(users, name, password):
            message = '<div class="alert alert-danger">Wrong user name or password.</div>'
            return LOGIN_PAGE.format(message=message, next=query), 401
        flask.session.clear()  # a new session id at every sign-in (no fixation)
        login_user(User(name))
        flask.session["sid"] = uuid.uuid4().hex
        return flask.redirect(next_page)

    def logout():
        sid = flask.session.get("sid")
        logout_user()
        flask.session.clear()
        if sid and store is not None:
            store.forget(sid)
        return flask.redirect("/login")

    server.add_url_rule("/login", "login", login, methods=["GET", "POST"])
    server.add_url_rule("/logout", "logout", logout, methods=["GET", "POST"])

    @limiter.request_filter
    def only_login():
        return flask.request.endpoint != "login"

    @server.errorhandler(429)
    def too_many(_):
        message = '<div class="alert alert-warning">Too many wrong attempts: wait 15 minutes and try again.</div>'
        return LOGIN_PAGE.format(message=message, next=""), 429

    @server.before_request
    def require_login():
        path = flask.request.path
        if path.startswith(OPEN_PATHS) or current_user.is_authenticated:
            return None
        if flask.request.method == "GET" and path == "/":
            return flask.redirect("/login")
        return flask.Response("sign in first: /login", 401, mimetype="text/plain")

    return limiter


def _local(target: str | None) -> str:
    """Only a path of this site to go to after signing in (never another host)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def add_user(path: str | Path, name: str, password: str) -> None:
    """Add or replace one user in the file."""
    if not name or ":" in name:
        raise ValueError("a user name cannot be empty or contain ':'")
    path = Path(path)
    lines = [ln for ln in (path.read_text().splitlines() if path.exists() else []) if not ln.startswith(f"{name}:")]
    lines.append(f"{name}:{generate_password_hash(password)}")
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboard.auth", description="Manage dashboard users.")
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="add or replace a user")
    add.add_argument("name")
    add.add_argument("--file", default=os.environ.get(USERS_FILE_ENV, "users.txt"))
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    args = parser.parse_args(argv)
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass(f"password for {args.name}: ")
    if len(password) < 8:
        print("error: use a password of at least 8 characters", file=sys.stderr)
        return 2
    add_user(args.file, args.name, password)
    print(f"user {args.name} saved in {args.file}; start the app with {USERS_FILE_ENV}={args.file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
