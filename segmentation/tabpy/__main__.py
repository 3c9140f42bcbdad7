"""``python -m segmentation.tabpy serve|deploy``: TabPy for Tableau, one line and exit 2 on errors."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..cli import run_command
from ..errors import InputError
from .connection import TabPyConnection
from .deploy import deploy
from .server import DEFAULT_PORT, ServerSettings, read_credentials, serve


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m segmentation.tabpy",
        description="Serve the segmentation model to Tableau through TabPy. Credentials come from "
        "TABPY_USERNAME and TABPY_PASSWORD (or --password-file).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("serve", help="start a TabPy server with the endpoints deployed")
    p.add_argument("--model", required=True, help="model bundle folder (e.g. out/model)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    p.add_argument("--state", default="tabpy-state", help="folder for TabPy's config, state and log")
    p.add_argument("--no-auth", action="store_true", help="run without authentication (not advised)")
    p.add_argument("--cert", type=Path, help="PEM certificate: serve HTTPS (with --key)")
    p.add_argument("--key", type=Path, help="PEM private key of --cert")
    p.add_argument("--evaluate-timeout", type=float, default=30, help="seconds a script may run (default 30)")
    _credential_options(p)

    p = sub.add_parser("deploy", help="deploy the endpoints to a running TabPy server")
    p.add_argument("--url", required=True, help="the server, e.g. http://localhost:9004")
    p.add_argument("--model", required=True, help="model bundle folder, on a path the server sees too")
    _credential_options(p)
    return parser


def _credential_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--username", help="default: TABPY_USERNAME")
    p.add_argument("--password-file", help="file whose first line is the password (default: TABPY_PASSWORD)")


def cmd_serve(args) -> int:
    credentials = read_credentials(args.username, args.password_file)
    if args.no_auth:
        credentials = None
        print(
            f"warning: authentication is off: anyone who reaches port {args.port} can run Python here",
            file=sys.stderr,
        )
    elif credentials is None:
        raise InputError(
            "no credentials: set TABPY_USERNAME and TABPY_PASSWORD (or --password-file FILE), "
            "or pass --no-auth to run without authentication"
        )
    settings = ServerSettings(
        Path(args.state),
        args.port,
        certificate=args.cert,
        key=args.key,
        evaluate_timeout=args.evaluate_timeout,
    )
    return serve(args.model, settings, credentials, say=_say)


def cmd_deploy(args) -> int:
    credentials = read_credentials(args.username, args.password_file) or (None, None)
    conn = TabPyConnection(args.url, *credentials)
    names = deploy(conn, args.model, say=_say)
    print(f"deployed {', '.join(names)} to {conn.url}")
    return 0


def _say(line: str) -> None:
    print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command({"serve": cmd_serve, "deploy": cmd_deploy}[args.command], args)


if __name__ == "__main__":
    sys.exit(main())
