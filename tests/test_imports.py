"""Each module imports on its own (no import cycle hides behind an import order), and the
commands that do not fit or load a model never load scikit-learn, skops or matplotlib."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("sklearn", "skops", "matplotlib", "scipy")


def modules(package: str) -> list[str]:
    out = []
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        out.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return [m for m in out if not m.endswith("__main__")]


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_every_module_imports_first():
    names = modules("segmentation") + modules("dashboard")
    assert "segmentation.io.sql_runner" in names and "dashboard.views.overview" in names
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    for loaded in [m for m in sys.modules if m.split('.')[0] in ('segmentation', 'dashboard')]:\n"
        "        del sys.modules[loaded]\n"
        "    importlib.import_module(name)\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr[-2000:]


def test_reading_features_loads_no_model_library(tmp_path):
    from segmentation.demo import write_demo

    path = write_demo(tmp_path / "t.csv", 300, seed=1)
    code = (
        "import sys\n"
        "import segmentation\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "assert not heavy, ('import segmentation', heavy)\n"
        "from segmentation.cli import main\n"
        f"assert main(['features', {str(path)!r}, '--out', {str(tmp_path / 'f.csv')!r}]) == 0\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "assert not heavy, ('features', heavy)\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "f.csv").exists()
