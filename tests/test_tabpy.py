"""A real TabPy server, started by `python -m segmentation.tabpy serve`, spoken to as Tableau does.

The server runs as a subprocess on a free port with its state in a temp folder, as TabPy's own
integration tests do; the tests poll it until it answers and always stop it. Requests are plain
HTTP: `GET /info`, the auth handshake, `POST /evaluate` with `_argN` lists.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest
import requests

from segmentation import Bundle
from segmentation.tabpy import rfm_score, segment_live
from segmentation.tabpy.__main__ import main as tabpy_main

USER, PASSWORD = "tableau", "Tr0ub4dor&3"
ENDPOINTS = {"segment_assign", "segment_name", "segment_action", "segment_explain", "segment_live", "rfm_score"}
#: Endpoints the sample workbook has a field for (segment_explain is for a customer's detail sheet).
WORKBOOK_ENDPOINTS = ENDPOINTS - {"segment_explain"}
WORKBOOK = Path(__file__).resolve().parents[1] / "tableau" / "segments.twb"
HANDSHAKE = {"script": "return int(1)", "data": {"_arg1": [4]}}  # what Tableau posts after /info


pytestmark = pytest.mark.filterwarnings(
    "ignore::urllib3.exceptions.InsecureRequestWarning"
)  # self-signed TLS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """A `serve` process, its URL and log."""

    def __init__(self, tmp: Path, model: Path, *options: str, env: dict | None = None):
        self.port = free_port()
        self.log = tmp / "serve.log"
        self.state = tmp / "state"
        scheme = "https" if "--cert" in options else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "segmentation.tabpy", "serve", "--model", str(model)]
        command += ["--port", str(self.port), "--state", str(self.state), *options]
        with self.log.open("w") as log:
            # stdin left open and never written: a prompt would hang the start, and fail it.
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )

    def wait_until_deployed(self, auth, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"serve exited early:\n{self.log.read_text()}"
            try:
                status = requests.get(f"{self.url}/status", auth=auth, verify=False, timeout=5)
                if status.ok and all(
                    status.json().get(name, {}).get("status") == "LoadSuccessful" for name in ENDPOINTS
                ):
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass  # not listening yet, or busy loading an endpoint
            time.sleep(0.3)
        pytest.fail(f"TabPy did not deploy the endpoints in {timeout} s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process.stdin.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, demo_run):
    served = Served(
        tmp_path_factory.mktemp("tabpy"),
        demo_run / "model",
        env={"TABPY_USERNAME": USER, "TABPY_PASSWORD": PASSWORD},
    )
    try:
        served.wait_until_deployed(auth=(USER, PASSWORD))
        yield served
    finally:
        served.stop()


def evaluate(server, script: str, *args, auth=(USER, PASSWORD)):
    data = {f"_arg{i}": list(a) for i, a in enumerate(args, start=1)}
    reply = requests.post(
        f"{server.url}/evaluate", json={"script": script, "data": data}, auth=auth, timeout=60
    )
    assert reply.status_code == 200, reply.text
    return reply.json()


def query_script(endpoint: str, n: int) -> str:
    """The script of a SCRIPT_* field calling ``endpoint`` with ``n`` arguments."""
    return f"return tabpy.query('{endpoint}', {', '.join(f'_arg{i}' for i in range(1, n + 1))})['response']"


def tableau_lists(frame: pd.DataFrame, columns) -> list[list]:
    return [[None if pd.isna(v) else v for v in frame[c].tolist()] for c in columns]


@pytest.fixture(scope="module")
def customers(demo_run):
    return pd.read_csv(demo_run / "customer_segments.csv", dtype={"customer_id": str})


@pytest.fixture(scope="module")
def bundle(demo_run):
    return Bundle.load(demo_run / "model")


# -- Tableau's connection ------------------------------------------------------------------


def test_test_connection_and_auth_handshake(server):
    info = requests.get(f"{server.url}/info", auth=(USER, PASSWORD), timeout=10)
    assert info.status_code == 200
    features = info.json()["versions"]["v1"]["features"]
    assert features["authentication"]["required"] is True and features["evaluate_enabled"] is True
    reply = requests.post(f"{server.url}/evaluate", json=HANDSHAKE, auth=(USER, PASSWORD), timeout=10)
    assert reply.status_code == 200 and reply.json() == 1


@pytest.mark.parametrize("auth", [(USER, "wrong"), ("someone", PASSWORD), None])
def test_wrong_or_missing_credentials_get_401(server, auth):
    assert requests.get(f"{server.url}/info", auth=auth, timeout=10).status_code == 401
    assert requests.post(f"{server.url}/evaluate", json=HANDSHAKE, auth=auth, timeout=10).status_code == 401


def test_the_password_stays_out_of_the_server(server):
    leaked = evaluate(server, "import os\nreturn [k for k in os.environ if k.startswith('TABPY_')]")
    assert leaked == []
    assert PASSWORD not in (server.state / "passwords.txt").read_text()
    assert PASSWORD not in server.log.read_text() + (server.state / "tabpy.log").read_text()


# -- the endpoints through /evaluate ----------------------------------------------------------


def test_segments_equal_the_library_row_for_row(server, customers, bundle):
    lists = tableau_lists(customers, bundle.features)
    expected = bundle.assign(customers)
    n = len(lists)
    assert evaluate(server, query_script("segment_assign", n), *lists) == expected["segment"].tolist()
    assert evaluate(server, query_script("segment_name", n), *lists) == expected["segment_name"].tolist()
    assert (
        evaluate(server, query_script("segment_action", n), *lists) == expected["recommended_action"].tolist()
    )
    assert expected["segment"].tolist() == customers["segment"].tolist()  # and the CLI's file


def test_segment_explain_answers_the_librarys_text_per_row(server, customers, bundle):
    rows = customers.head(25)
    lists = tableau_lists(rows, bundle.features)
    lists[0][1] = "n/a"  # a row that is not numbers: null, the others answered
    out = evaluate(server, query_script("segment_explain", len(lists)), *lists)
    assert out[1] is None
    for i in (0, *range(2, 25)):
        explained = bundle.explain(rows.iloc[i])
        assert out[i] == explained.text
        assert out[i].startswith(f"{rows['segment'].iloc[i]} {rows['segment_name'].iloc[i]}; ")


def test_a_row_with_null_gets_null(server, customers, bundle):
    lists = tableau_lists(customers.head(4), bundle.features)
    for values in lists:
        values[1] = None
    lists[0][2] = "n/a"
    out = evaluate(server, query_script("segment_assign", len(lists)), *lists)
    assert out[1] is None and out[2] is None
    assert [out[0], out[3]] == customers["segment"].iloc[[0, 3]].tolist()
    assert "2 of 4 rows answered null" in (server.state / "tabpy.log").read_text()


def test_structural_problems_are_named_in_the_query_reply_and_log(server):
    reply = requests.post(
        f"{server.url}/query/segment_assign", json={"data": [[1, 2], [3]]}, auth=(USER, PASSWORD), timeout=10
    )
    assert reply.status_code >= 400
    assert "segment_assign takes 6 lists" in reply.text
    reply = requests.post(
        f"{server.url}/query/rfm_score",
        json={"data": [[1, 2], [3], [4, 5]]},
        auth=(USER, PASSWORD),
        timeout=10,
    )
    assert "lists of unequal length (recency: 2, frequency: 1, monetary: 2)" in reply.text
    assert "segment_assign takes 6 lists" in (server.state / "tabpy.log").read_text()


def test_live_segments_and_rfm_scores(server, customers):
    sample = customers.sample(200, random_state=2)
    lists = tableau_lists(sample, ["txn_count", "avg_txn_amount", "late_share"])
    assert evaluate(server, query_script("segment_live", 4), [3] * 200, *lists) == segment_live(3, *lists)
    tiny = [values[:2] for values in lists]
    assert sorted(evaluate(server, query_script("segment_live", 4), [5, 5], *tiny)) == [0, 1]
    rfm = tableau_lists(sample, ["recency_days", "txn_count", "total_amount"])
    scores = evaluate(server, query_script("rfm_score", 3), *rfm)
    assert scores == rfm_score(*rfm) and all(re.fullmatch(r"[1-5]{3}", s) for s in scores)


# -- the sample workbook ---------------------------------------------------------------------


def workbook_fields(path: Path) -> dict[str, str]:
    """Caption -> formula of every SCRIPT_* calculated field of a .twb."""
    root = ET.parse(path).getroot()
    return {
        column.get("caption"): column.find("calculation").get("formula")
        for column in root.find("datasources").iter("column")  # not the sheet's copies
        if column.find("calculation") is not None
        and column.find("calculation").get("formula").startswith("SCRIPT_")
    }


def split_arguments(text: str) -> list[str]:
    """Top-level comma-separated arguments of a Tableau formula."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    return [*parts, current.strip()]


def tableau_arguments(formula: str, csv: pd.DataFrame, parameters: dict) -> tuple[str, str, list[list]]:
    """(function, script, _argN lists) of a SCRIPT_* formula over the rows of ``csv``."""
    match = re.fullmatch(r'(SCRIPT_\w+)\("((?:[^"]|"")*)",\s*(.*)\)', formula, flags=re.S)
    assert match, formula
    function, script, rest = match[1], match[2].replace('""', '"'), match[3]
    lists = []
    for arg in split_arguments(rest):
        if m := re.fullmatch(r"(?:SUM|AVG|MIN|MAX|ATTR)\(\[(.+?)\]\)", arg):
            lists.append(tableau_lists(csv, [m[1]])[0])
        elif m := re.fullmatch(r"\[Parameters\]\.\[(.+?)\]", arg):
            lists.append([parameters[m[1]]] * len(csv))
        else:
            pytest.fail(f"argument {arg!r} of {formula!r} is not one this test can feed")
    return function, script, lists


def test_sample_workbook_fields_run_against_the_server(server, demo_run, bundle):
    root = ET.parse(WORKBOOK).getroot()
    text = root.find(".//connection[@class='textscan']")
    csv_path = demo_run / text.get("filename")  # the file `segmentation run` writes
    csv = pd.read_csv(csv_path, dtype={"customer_id": str})
    declared = [c.get("name") for c in root.find(".//relation/columns")]
    assert declared == list(csv.columns)
    parameters = {
        c.get("name").strip("[]"): int(c.get("value"))
        for c in root.find(".//datasource[@name='Parameters']").iter("column")
    }
    fields = workbook_fields(WORKBOOK)
    assert len(fields) == 5
    expected = {
        "segment_assign": csv["segment"].tolist(),
        "segment_name": csv["segment_name"].tolist(),
        "segment_action": csv["recommended_action"].tolist(),
    }
    seen = set()
    for caption, formula in fields.items():
        function, script, lists = tableau_arguments(formula, csv, parameters)
        endpoint = re.search(r"tabpy\.query\('(\w+)'", script)[1]
        seen.add(endpoint)
        if endpoint in expected:
            features = [re.search(r"\[(.+?)\]", a)[1] for a in split_arguments(formula.split('",', 1)[1])]
            assert features == bundle.features, f"{caption}: arguments not in the model's order"
        out = evaluate(server, script, *lists)
        assert len(out) == len(csv), caption
        kind = {"SCRIPT_INT": int, "SCRIPT_STR": str}[function]
        assert all(type(v) is kind for v in out), caption
        if endpoint in expected:
            assert out == expected[endpoint], caption
        elif endpoint == "segment_live":
            assert out == segment_live(*lists)
        else:
            assert out == rfm_score(*lists)
    assert seen == WORKBOOK_ENDPOINTS


# -- deploy -------------------------------------------------------------------------------


def versions_on(server) -> dict[str, int]:
    reply = requests.get(f"{server.url}/endpoints", auth=(USER, PASSWORD), timeout=10).json()
    return {name: reply[name]["version"] for name in ENDPOINTS}


def test_deploy_refuses_a_model_the_server_cannot_run(server, demo_run, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TABPY_USERNAME", USER)
    monkeypatch.setenv("TABPY_PASSWORD", PASSWORD)
    model = shutil.copytree(demo_run / "model", tmp_path / "model")
    meta = json.loads((model / "metadata.json").read_text())
    meta["versions"]["segmentation"] = "0.0.7"
    (model / "metadata.json").write_text(json.dumps(meta))
    before = versions_on(server)
    assert tabpy_main(["deploy", "--url", server.url, "--model", str(model)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the TabPy server at")
    assert "segmentation 0.1.0 there, the model was saved with 0.0.7" in err
    assert versions_on(server) == before


def test_deploy_errors_are_one_clear_line(server, demo_run, capsys, monkeypatch):
    model = str(demo_run / "model")
    monkeypatch.delenv("TABPY_USERNAME", raising=False)
    monkeypatch.delenv("TABPY_PASSWORD", raising=False)
    assert tabpy_main(["deploy", "--url", server.url, "--model", model]) == 2
    assert "requires a user name and password" in capsys.readouterr().err
    monkeypatch.setenv("TABPY_USERNAME", USER)
    monkeypatch.setenv("TABPY_PASSWORD", "wrong")
    assert tabpy_main(["deploy", "--url", server.url, "--model", model]) == 2
    assert "refused user 'tableau' (401)" in capsys.readouterr().err
    assert tabpy_main(["deploy", "--url", f"http://127.0.0.1:{free_port()}", "--model", model]) == 2
    assert "no TabPy server answers at" in capsys.readouterr().err


def test_deploy_replaces_the_endpoints(server, demo_run, capsys, monkeypatch):
    monkeypatch.setenv("TABPY_USERNAME", USER)
    monkeypatch.setenv("TABPY_PASSWORD", PASSWORD)
    before = versions_on(server)
    assert tabpy_main(["deploy", "--url", server.url, "--model", str(demo_run / "model")]) == 0
    assert "deployed segment_assign, segment_name" in capsys.readouterr().out
    assert versions_on(server) == {name: v + 1 for name, v in before.items()}
    assert evaluate(server, query_script("segment_assign", 6), [20], [1500.0], [30000.0], [5.0], [0.0], [10])


# -- serve's own options --------------------------------------------------------------------


def test_serve_refuses_to_start_without_credentials(demo_run, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TABPY_USERNAME", raising=False)
    monkeypatch.delenv("TABPY_PASSWORD", raising=False)
    args = ["serve", "--model", str(demo_run / "model"), "--state", str(tmp_path / "state")]
    assert tabpy_main(args) == 2
    assert "no credentials: set TABPY_USERNAME and TABPY_PASSWORD" in capsys.readouterr().err
    assert not (tmp_path / "state").exists()
    monkeypatch.setenv("TABPY_USERNAME", USER)
    assert tabpy_main([*args, "--password-file", str(tmp_path / "missing")]) == 2
    assert "--password-file: no such file" in capsys.readouterr().err


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_serve_without_auth_over_tls_starts_without_a_prompt_and_stops_tabpy(demo_run, tmp_path):
    cert, key = self_signed_certificate(tmp_path)
    served = Served(tmp_path, demo_run / "model", "--no-auth", "--cert", str(cert), "--key", str(key))
    try:
        served.wait_until_deployed(auth=None)
        info = requests.get(f"{served.url}/info", verify=False, timeout=10).json()
        assert "authentication" not in info["versions"]["v1"]["features"]
        assert requests.post(f"{served.url}/evaluate", json=HANDSHAKE, verify=False, timeout=10).json() == 1
        # Credentials sent to a server without authentication are refused (Tableau's sign-in box).
        with_auth = requests.get(f"{served.url}/info", auth=(USER, PASSWORD), verify=False, timeout=10)
        assert with_auth.status_code == 406
        script = {"script": query_script("rfm_score", 3), "data": {"_arg1": [1], "_arg2": [2], "_arg3": [3]}}
        reply = requests.post(f"{served.url}/evaluate", json=script, verify=False, timeout=10)
        assert reply.json() == ["555"]  # tabpy.query's hop back to the server works over HTTPS
        conf = (served.state / "tabpy.conf").read_text()
        assert f"TABPY_CERTIFICATE_FILE = {cert}" in conf and "TABPY_PWD_FILE" not in conf
        # SIGTERM to serve alone (as a process manager sends it) must take TabPy down too.
        served.process.send_signal(signal.SIGTERM)
        assert served.process.wait(20) == 0
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{served.url}/info", verify=False, timeout=5)
    finally:
        served.stop()


def test_only_this_machine_counts_as_local():
    from segmentation.tabpy.deploy import is_local

    assert is_local("127.0.0.1") and is_local("localhost") and is_local("::1")
    assert is_local(socket.gethostname())
    assert not is_local("192.0.2.10") and not is_local("tabpy.example.com")  # names only, no traffic
