"""Deploying the endpoints to a TabPy server, after checking it can run the model.

``Client.deploy`` (TabPy's own client) pickles each endpoint with cloudpickle into the
server's staging folder, written from this machine, and the server unpickles it, importing
``segmentation`` and loading the bundle from its folder. So before deploying, one
``/evaluate`` call asks the server for its versions and whether it sees the model folder.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

from ..book.bundle import SERVER_PINNED, Bundle, version_mismatches
from ..errors import InputError
from . import endpoints
from .connection import TabPyConnection

# Runs on the server as the body of `_user_script(tabpy, _arg1, _arg2)`: _arg1 the package
# names, _arg2 the model's metadata.json as this machine names it.
SERVER_CHECK = """\
import os, platform
from importlib import metadata
found = {"python": platform.python_version(), "model_found": os.path.isfile(_arg2[0])}
for name in _arg1:
    try:
        found[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
        found[name] = None
return found"""

SHARED_FILESYSTEM = (
    "TabPy's deploy writes each endpoint (a small pickle naming the model folder) from this "
    "machine into the server's staging folder {staging}, and the server then loads the model "
    "from {model}: both must be the same files on this machine and on the server (a shared "
    "folder mounted at the same path), and the server's Python environment needs this project "
    "installed at the model's versions. Otherwise run `python -m segmentation.tabpy deploy` on "
    "the server machine itself."
)


def endpoint_table(model_dir: Path, bundle: Bundle) -> dict[str, tuple]:
    """Name -> (callable to deploy, description) of the six endpoints over ``model_dir``."""
    args = ", ".join(bundle.features)
    model = {
        "segment_assign": (endpoints.segment_assign, "Segment id (0 = largest segment)"),
        "segment_name": (endpoints.segment_name, "Segment name"),
        "segment_action": (endpoints.segment_action, "Recommended action of the segment"),
        "segment_explain": (
            endpoints.segment_explain,
            "Segment and the smallest change of one or two features that moves the customer to the nearest "
            "other segment, as text",
        ),
    }
    table = {
        name: (endpoints.ModelEndpoint(func, model_dir, bundle), f"{what} per row; arguments: {args}.")
        for name, (func, what) in model.items()
    }
    table["segment_live"] = (
        endpoints.segment_live,
        "Clusters the rows sent (library preprocessing, K-Means); arguments: k (0 = automatic), "
        "then any numeric fields.",
    )
    table["rfm_score"] = (
        endpoints.rfm_score,
        "RFM score such as '545' (quintiles 1-5 among the rows sent, 5 best); arguments: "
        "recency days, frequency, monetary.",
    )
    return table


def server_problems(found: dict, saved: dict) -> list[str]:
    """Why a server with versions ``found`` cannot run a model saved with ``saved``.

    Versions must agree on major.minor, the rule :meth:`Bundle.load` applies.
    """
    return [
        f"{name} is not installed there (the model was saved with {want})"
        if have is None
        else f"{name} {have} there, the model was saved with {want}"
        for name, want, have in version_mismatches(saved, found, SERVER_PINNED)
        if want is not None or have is None
    ]


def is_local(host: str) -> bool:
    """Whether ``host`` names this machine (by its name or a loopback address)."""
    if host in ("localhost", socket.gethostname(), socket.getfqdn()):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def deploy(conn: TabPyConnection, model_dir: str | Path, say=print) -> list[str]:
    """Check the server can run the model in ``model_dir``, then deploy the six endpoints.

    Returns the endpoint names. Raises :class:`InputError` with the reason when the server
    does not answer, refuses the credentials, has other versions than the model or does not
    see the model's folder.
    """
    model_dir = Path(model_dir).resolve()
    bundle = Bundle.load(model_dir)
    conn.info()  # first what Tableau's Test Connection asks: is it there, are we let in
    found = conn.evaluate(SERVER_CHECK, list(SERVER_PINNED[1:]), [str(model_dir / "metadata.json")])
    staging = Path(conn.get("configurations/endpoint_upload_destination")["path"])
    explain = SHARED_FILESYSTEM.format(staging=staging, model=model_dir)
    problems = server_problems(found, bundle.metadata.get("versions", {}))
    if problems:
        raise InputError(
            f"the TabPy server at {conn.url} cannot run this model: {'; '.join(problems)}. Install "
            "the model's versions in the server's environment (pip install -r requirements.txt, "
            "then pip install . from this project) and restart it, or refit the model there"
        )
    if not found.get("model_found") or not staging.parent.is_dir():
        missing = "the model folder" if not found.get("model_found") else "its staging folder from here"
        raise InputError(f"the TabPy server at {conn.url} does not see {missing}. {explain}")
    if not is_local(conn.host):
        say(f"note: {conn.host} is another machine. {explain}")

    from tabpy.tabpy_tools.client import Client

    client = Client(conn.url)
    # TabPy's client means not to verify certificates (session.verify = False), but requests
    # lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override that unless the environment is ignored.
    client._service.service_client.network_wrapper.session.trust_env = False
    if conn.username is not None:
        client.set_credentials(conn.username, conn.password)
    table = endpoint_table(model_dir, bundle)
    for name, (func, description) in table.items():
        try:
            client.deploy(name, func, description, override=True, is_public=True)
        except Exception as exc:  # LoadFailed, a refused request, a timeout: all mean "not deployed"
            raise InputError(f"deploying {name} to {conn.url} failed: {exc}. {explain}") from None
        say(f"deployed {name}")
    return list(table)
