"""Shared fixtures: small demo data written once per session, the real data folder, the CLI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from segmentation.cli import main
from segmentation.demo import demo_transactions, write_demo

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def demo_frame():
    """2,000 demo customers with their latent group."""
    return demo_transactions(2_000, seed=7, with_groups=True)


@pytest.fixture(scope="session")
def demo_csv(tmp_path_factory):
    return write_demo(tmp_path_factory.mktemp("demo") / "transactions.csv", 1_500, seed=3)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory, demo_csv):
    """One full `segmentation run` on the demo CSV, shared by the tests that read its outputs."""
    out = tmp_path_factory.mktemp("run") / "out"
    assert main(["run", str(demo_csv), "--out", str(out)]) == 0
    return out


def shared_file(name: str) -> Path:
    """A file of ../shared/data: skipped on a user's clone, required in CI."""
    path = SHARED_DATA / name
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing in CI")
        pytest.skip(f"{path} not present (it ships beside the repository in CI)")
    return path


@pytest.fixture
def cli(capsys):
    """Run the CLI in-process; returns (exit code, stdout, stderr)."""

    def run(*args):
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server on 127.0.0.1 for this session (see postgres_server.py).

    Skipped with a message when PostgreSQL is not installed; a failure in CI (CI=true).
    """
    from postgres_server import INSTALL_HINT, PostgresServer, find_bindir

    bindir = find_bindir()
    if bindir is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL server binaries not found in CI: {INSTALL_HINT}")
        pytest.skip(f"PostgreSQL server binaries not found: {INSTALL_HINT}")
    server = PostgresServer(bindir).start()
    yield server
    server.stop()


@pytest.fixture
def pg_db(postgres):
    """Name of a new, empty database on the test server."""
    return postgres.create_database()


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, driven by Playwright (skipped or failed as services.py says)."""
    from services import CHROMIUM_FLAGS, chromium_or_skip

    executable = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture(autouse=True)
def _close_pages(request):
    """Close every page a test opened: a page left open keeps polling its server (Dash's
    background jobs, intervals) and its renderer keeps a share of the 2 cores for the rest of
    the run."""
    browser = request.getfixturevalue("browser") if "browser" in request.fixturenames else None
    yield
    if browser is not None:
        for context in list(browser.contexts):
            context.close()
