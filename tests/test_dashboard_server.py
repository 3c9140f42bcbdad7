"""Serving the dashboard: login when users are configured, loopback only when not, gunicorn."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dashboard.app import create_app
from dashboard.auth import add_user, load_users
from segmentation.demo import write_demo

from services import free_port, stop, wait_for_url

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    return write_demo(tmp_path_factory.mktemp("d") / "tx.csv", 300, seed=1)


def basic(name, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


def test_users_file_holds_hashes_not_passwords(tmp_path):
    path = tmp_path / "users.txt"
    add_user(path, "alice", "correct horse")
    add_user(path, "bob", "battery staple")
    add_user(path, "alice", "new password")  # replaced, not duplicated
    text = path.read_text()
    assert "correct horse" not in text and "new password" not in text
    assert set(load_users(path)) == {"alice", "bob"}
    assert oct(path.stat().st_mode)[-3:] == "600"


def test_every_request_needs_a_login_when_users_are_configured(tmp_path, small_demo):
    path = tmp_path / "users.txt"
    add_user(path, "alice", "correct horse")
    app = create_app(small_demo, store_dir=tmp_path / "store", users=load_users(path))
    client = app.server.test_client()
    for url in ("/_dash-layout", "/_dash-dependencies"):
        assert client.get(url).status_code == 401, url
    assert client.get("/").status_code == 302  # to the sign-in page
    body = {"output": "kpi-customers.children", "outputs": {"id": "kpi-customers", "property": "children"}, "inputs": [], "changedPropIds": []}
    assert client.post("/_dash-update-component", json=body).status_code == 401
    assert client.post("/login", data={"name": "alice", "password": "wrong"}).status_code == 401
    assert client.get("/", headers=basic("alice", "correct horse")).status_code == 302  # no basic auth
    assert client.post("/login", data={"name": "alice", "password": "correct horse"}).status_code == 302
    assert client.get("/").status_code == 200
    assert client.get("/_dash-layout").status_code == 200


def test_page_assets_are_served_by_the_app_itself(tmp_path, small_demo):
    app = create_app(small_demo, store_dir=tmp_path / "store")
    client = app.server.test_client()
    page = client.get("/").get_data(as_text=True)
    assert "https://" not in page and "http://" not in page  # no CDN
    assert client.get("/vendor/bootstrap/bootstrap.min.css").status_code == 200
    scripts = client.get("/_dash-layout").status_code
    assert scripts == 200


def test_refuses_to_listen_beyond_loopback_without_users():
    env = {k: v for k, v in os.environ.items() if k != "DASHBOARD_USERS_FILE"}
    proc = subprocess.run([sys.executable, "-m", "dashboard", "--host", "0.0.0.0"], cwd=ROOT, env=env,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert proc.returncode == 2
    assert "no users configured: refusing to listen on 0.0.0.0" in proc.stderr


def test_gunicorn_serves_the_procfile_app_on_loopback(tmp_path, small_demo):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DASHBOARD_USERS_FILE"}
    env.update(PORT=str(port), DASHBOARD_DATA=str(small_demo), DASHBOARD_STORE=str(tmp_path / "store"))
    log = tmp_path / "gunicorn.log"
    gunicorn = Path(sys.executable).with_name("gunicorn")
    proc = subprocess.Popen([str(gunicorn), "-c", "gunicorn.conf.py", "dashboard.app:server"], cwd=ROOT, env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_for_url(f"http://127.0.0.1:{port}/_dash-layout", proc, log=log)
        assert "Listening at: http://127.0.0.1:" in log.read_text()
    finally:
        stop(proc)
    env["HOST"] = "0.0.0.0"
    refused = subprocess.run([str(gunicorn), "-c", "gunicorn.conf.py", "dashboard.app:server"], cwd=ROOT, env=env,
                             capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert refused.returncode != 0 and "refusing to bind 0.0.0.0" in refused.stderr + refused.stdout
