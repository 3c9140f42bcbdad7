"""Plain HTTP to a TabPy server, the way Tableau talks to it (basic auth, JSON bodies)."""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from ..errors import InputError


class TabPyConnection:
    """A TabPy server's URL and the credentials to use on it.

    Parameters
    ----------
    url : str
        ``http://host:port`` or ``https://host:port``.
    username, password : str, optional
        Basic-auth credentials; None when the server runs without authentication.
    """

    def __init__(self, url: str, username: str | None = None, password: str | None = None):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"--url must look like http://host:9004 or https://host:9004, got {url!r}")
        self.url = f"{parts.scheme}://{parts.netloc}/"
        self.host = parts.hostname
        self.username = username
        self.password = password

    def request(self, method: str, path: str, body=None, timeout: float = 60):
        """(status, parsed JSON or text) of one request; status 0 when nothing answers.

        ``body`` is sent as JSON, or as it is when already ``bytes``.
        """
        data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path.lstrip("/"), data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.username is not None:
            token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        # TabPy's own client does not verify certificates either: TabPy servers mostly run
        # with self-signed ones.
        context = ssl._create_unverified_context() if self.url.startswith("https") else None
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:
                status, text = resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            status, text = err.code, err.read().decode(errors="replace")
        except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
            return 0, str(getattr(err, "reason", err))
        try:
            return status, json.loads(text)
        except json.JSONDecodeError:
            return status, text

    def get(self, path: str):
        """The JSON reply of ``GET path``; InputError when refused or failed."""
        return self._ok(*self.request("GET", path), f"GET /{path}")

    def info(self) -> dict:
        """``GET /info``, what Tableau's Test Connection asks."""
        return self.get("info")

    def evaluate(self, script: str, *args) -> object:
        """``POST /evaluate`` with ``_arg1..`` lists, as a SCRIPT_* calculated field does."""
        data = {f"_arg{i}": list(a) for i, a in enumerate(args, start=1)}
        return self._ok(*self.request("POST", "evaluate", {"script": script, "data": data}), "POST /evaluate")

    def _ok(self, status: int, reply, what: str):
        if status == 200:
            return reply
        if status == 0:
            raise InputError(f"no TabPy server answers at {self.url} ({reply})")
        if status == 401 and self.username is None:
            raise InputError(
                f"the TabPy server at {self.url} requires a user name and password (401): "
                "set TABPY_USERNAME and TABPY_PASSWORD"
            )
        if status == 401:
            raise InputError(
                f"the TabPy server at {self.url} refused user {self.username!r} (401): set "
                "TABPY_USERNAME and TABPY_PASSWORD to an account of its password file"
            )
        detail = reply.get("info") or reply.get("message") if isinstance(reply, dict) else reply
        raise InputError(f"{what} on {self.url} failed ({status}): {str(detail).strip()[:300]}")
