"""Start real processes for tests (servers on 127.0.0.1, Chromium), or skip/fail clearly."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


def missing(what: str, install: str):
    """A missing service: a failure in CI, a skip with what to install elsewhere."""
    message = f"{what} is not available ({install})"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_url(url: str, proc: subprocess.Popen, timeout: float = 240, log: Path | None = None, ok=(200,)) -> None:
    """Poll ``url`` until it answers (or the process dies, or time runs out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text()[-2000:] if log else ''}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status in ok:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code in ok:
                return
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{url} did not answer in {timeout} s: {log.read_text()[-2000:] if log else ''}")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def chromium_or_skip() -> str:
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        missing("Chromium", "apt-get install chromium; `make test` does it")
    return CHROMIUM


def processes_text() -> str:
    """This test run's child processes with their state and CPU seconds, and the load average:
    on a timeout, tells a busy process (slow) from an idle one (stuck)."""
    import psutil

    lines = [f"load average {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f}"]
    for proc in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            cpu = proc.cpu_times()
            lines.append(f"{proc.pid} {proc.status()} cpu {cpu.user + cpu.system:.1f} s: {' '.join(proc.cmdline())[:100]}")
    return "\n".join(lines)
