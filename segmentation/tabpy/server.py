"""Running a TabPy server for Tableau with the endpoints deployed: ``serve``.

The state folder holds everything the server needs and writes: ``tabpy.conf``, the password
file (made with TabPy's own ``tabpy-user add``), TabPy's ``state.ini`` and deployed endpoints
(``query_objects/``, ``staging/``) and its log ``tabpy.log``. Each start begins from a clean
state and deploys the six endpoints from the model folder again.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import InputError
from .connection import TabPyConnection
from .deploy import deploy

DEFAULT_PORT = 9004


@dataclass
class ServerSettings:
    """What goes into ``tabpy.conf``."""

    state: Path
    port: int = DEFAULT_PORT
    pwd_file: Path | None = None
    certificate: Path | None = None
    key: Path | None = None
    evaluate_timeout: float = 30

    @property
    def url(self) -> str:
        return f"{'https' if self.certificate else 'http'}://127.0.0.1:{self.port}"


def read_credentials(
    username: str | None, password_file: str | None, environ=os.environ
) -> tuple[str, str] | None:
    """(user, password) from ``TABPY_USERNAME``/``TABPY_PASSWORD`` or a file; None if absent.

    ``password_file`` holds the password on its first line (a secret mounted as a file).
    """
    username = username or environ.get("TABPY_USERNAME")
    password = environ.get("TABPY_PASSWORD")
    if password_file:
        path = Path(password_file)
        if not path.is_file():
            raise InputError(f"--password-file: no such file {path}")
        lines = path.read_text(encoding="utf-8").splitlines()
        password = lines[0] if lines else ""
    if not username and not password:
        return None
    if not username or not password:
        missing = "TABPY_USERNAME (or --username)" if not username else "a password (TABPY_PASSWORD)"
        raise InputError(f"credentials are incomplete: {missing} is not set")
    if any(c.isspace() for c in username):
        raise InputError(f"user name {username!r} has a space: TabPy's password file cannot hold it")
    return username, password


def write_password_file(path: Path, username: str, password: str) -> Path:
    """A TabPy password file with one account, written by ``tabpy-user add``'s own code."""
    from tabpy.utils.tabpy_user import add_user

    path.unlink(missing_ok=True)
    path.touch(mode=0o600)
    # The command's own function, called in-process so the password never appears in a process
    # list (and `tabpy-user` logs it at INFO, which nothing here prints).
    add_user({"--username": username, "--password": password, "--pwdfile": str(path)}, {})
    return path


def write_config(settings: ServerSettings) -> Path:
    """Write ``tabpy.conf`` into the state folder and return its path."""
    state = settings.state.resolve()
    tabpy = {
        "TABPY_PORT": settings.port,
        "TABPY_STATE_PATH": state,
        "TABPY_QUERY_OBJECT_PATH": state / "query_objects",
        "TABPY_EVALUATE_TIMEOUT": settings.evaluate_timeout,
    }
    if settings.pwd_file:
        tabpy["TABPY_PWD_FILE"] = settings.pwd_file.resolve()
    if settings.certificate:
        tabpy["TABPY_TRANSFER_PROTOCOL"] = "https"
        tabpy["TABPY_CERTIFICATE_FILE"] = settings.certificate.resolve()
        tabpy["TABPY_KEY_FILE"] = settings.key.resolve()
    # TabPy reads its section with interpolation: a % in a path must be doubled.
    lines = ["[TabPy]", *(f"{k} = {str(v).replace('%', '%%')}" for k, v in tabpy.items())]
    # Everything at INFO into the state folder's log; warnings (rows answered null, load
    # failures) also on the terminal. DEBUG is left off: TabPy logs whole requests there.
    lines += [
        "",
        "[loggers]\nkeys=root",
        "[handlers]\nkeys=file,console",
        "[formatters]\nkeys=plain",
        "[logger_root]\nlevel=INFO\nhandlers=file,console",
        "[handler_file]\nclass=handlers.RotatingFileHandler\nlevel=INFO\nformatter=plain\n"
        f"args=({str(state / 'tabpy.log')!r}, 'a', 10000000, 3)",
        "[handler_console]\nclass=StreamHandler\nlevel=WARNING\nformatter=plain\nargs=(sys.stderr,)",
        "[formatter_plain]\nformat=%(asctime)s [%(levelname)s] %(name)s: %(message)s",
    ]
    path = state / "tabpy.conf"
    path.write_text("\n".join(lines) + "\n")
    return path


def prepare_state(settings: ServerSettings, credentials: tuple[str, str] | None) -> Path:
    """A clean state folder with its config (and password file); returns the config path."""
    state = settings.state
    state.mkdir(parents=True, exist_ok=True)
    for old in ("state.ini", "query_objects", "staging"):
        target = state / old
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
    if credentials:
        settings = replace(settings, pwd_file=write_password_file(state / "passwords.txt", *credentials))
    return write_config(settings)


def start_tabpy(config: Path, **popen) -> subprocess.Popen:
    """Start ``tabpy --config=FILE`` with the current Python; it never waits on stdin."""
    # TabPy reads every environment variable as a config default: keep TABPY_* (a password
    # above all: /evaluate scripts can read os.environ) away from it.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TABPY_")}
    # TabPy's own entry point, after importing what the endpoints need (pandas, scikit-learn,
    # the model code): loading the first endpoint would otherwise import it all while the
    # server stalls for seconds, longer than TabPy's client waits for a deployment when the
    # machine is busy.
    launch = "import segmentation.tabpy.endpoints; from tabpy.tabpy import main; main()"
    command = [sys.executable, "-c", launch, f"--config={config}", "--disable-auth-warning"]
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, env=env, **popen)


def wait_until_answers(conn: TabPyConnection, process: subprocess.Popen, log: Path, timeout: float = 120):
    """Poll ``GET /info`` until the server answers; InputError if it exits or never answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise InputError(f"TabPy exited with code {process.returncode} before answering: {_tail(log)}")
        status, _ = conn.request("GET", "info", timeout=5)
        if status:
            conn.info()  # answers, or says why it refuses us
            return
        time.sleep(0.2)
    raise InputError(f"TabPy did not answer at {conn.url} within {timeout:.0f} s: {_tail(log)}")


def _tail(log: Path) -> str:
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    return lines[-1] if lines else f"nothing in {log}"


@contextmanager
def running_server(
    model_dir: str | Path, settings: ServerSettings, credentials: tuple[str, str] | None, say=print
):
    """Start TabPy from a clean state folder and deploy the endpoints; stop TabPy on exit.

    Yields the connection (as ``credentials``) and TabPy's process.
    """
    if (settings.certificate is None) != (settings.key is None):
        raise InputError("--cert and --key go together: give both for HTTPS, or neither")
    for option, path in (("--cert", settings.certificate), ("--key", settings.key)):
        if path is not None and not Path(path).is_file():
            raise InputError(f"{option}: no such file {path}")
    config = prepare_state(settings, credentials)
    log = settings.state.resolve() / "tabpy.log"
    conn = TabPyConnection(settings.url, *(credentials or (None, None)))
    say(f"starting TabPy on port {settings.port}: config {config}, log {log}")
    process = start_tabpy(config)
    try:
        wait_until_answers(conn, process, log)
        deploy(conn, model_dir, say=say)
        yield conn, process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def serve(
    model_dir: str | Path, settings: ServerSettings, credentials: tuple[str, str] | None, say=print
) -> int:
    """Run TabPy with the endpoints deployed until it stops or we get SIGINT/SIGTERM.

    Returns TabPy's exit code (0 after SIGINT/SIGTERM).
    """
    previous = signal.signal(signal.SIGTERM, _exit_on_signal)  # so TabPy is stopped with us
    try:
        with running_server(model_dir, settings, credentials, say) as (_, process):
            user = f"user {credentials[0]!r}" if credentials else "no authentication (--no-auth)"
            say(
                f"ready for Tableau: {settings.url.replace('127.0.0.1', socket.getfqdn())}, {user}; "
                "Settings > Manage Analytics Extension Connection > TabPy"
            )
            return process.wait()
    except (KeyboardInterrupt, SystemExit):
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)


def _exit_on_signal(signum, frame):
    raise SystemExit(0)
