"""Login for the dashboard when users are configured (customer lists are personal data).

Users live in a file of ``name:hash`` lines, hashes made by Werkzeug's
``generate_password_hash`` (Flask's own, maintained, salted); ``dash-auth`` asks for them on
every page, callback and download. Make the file with::

    python -m dashboard.auth add alice --file users.txt     # asks for the password

and point the app at it with ``DASHBOARD_USERS_FILE=users.txt``.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

import dash_auth
from werkzeug.security import check_password_hash, generate_password_hash

USERS_FILE_ENV = "DASHBOARD_USERS_FILE"


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


def protect(app, users: dict[str, str]) -> None:
    """Require a login for everything the app serves."""
    dash_auth.BasicAuth(app, auth_func=lambda name, password: name in users and check_password_hash(users[name], password))


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
