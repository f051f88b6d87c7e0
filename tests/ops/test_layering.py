"""Issue 11: the package structure holds. `scripts/import_graph.py` finds no import cycle
outside the sandbox, no domain module importing a face (api/, workbench/, cli/) or the
handlers/jobs, and no table module importing logic; and the callback path stays thin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import import_graph  # noqa: E402


def test_the_import_graph_has_no_cycle_and_runs_one_way():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "import_graph.py")],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0 and result.stdout == "", result.stdout


def test_the_check_sees_a_cycle_and_a_face_import():
    edges = {"wecom_app.a": {"wecom_app.b"}, "wecom_app.b": {"wecom_app.a"},
             "wecom_app.governance.x": {"wecom_app.workbench.y"}, "wecom_app.models.t": {"wecom_app.governance.x"},
             "wecom_app.sandbox.p": {"wecom_app.sandbox.q"}, "wecom_app.sandbox.q": {"wecom_app.sandbox.p"}}
    assert import_graph.problems(edges) == [
        "cycle: wecom_app.a ↔ wecom_app.b",
        "domain imports a face: wecom_app.governance.x -> wecom_app.workbench.y",
        "models import logic: wecom_app.models.t -> wecom_app.governance.x",
    ]


def test_an_import_inside_a_function_counts(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from wecom_app.governance import rules\n")
    known = {"wecom_app.governance.rules": Path("x"), "wecom_app.governance": Path("y"), "m": module}
    assert import_graph.imports_of("m", module, known) == {"wecom_app.governance.rules"}


def test_the_receiver_loads_neither_the_rules_nor_the_outbox():
    code = ("import sys, wecom_app.callbacks.receiver; "
            "print(' '.join(sorted(m for m in sys.modules if m.startswith(('wecom_app', 'handlers', 'jobs')))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                            check=True).stdout.split()
    assert "wecom_app.callbacks.receiver" in loaded
    assert not [m for m in loaded if m.startswith(("wecom_app.governance", "wecom_app.wecom", "wecom_app.violations",
                                                    "wecom_app.directives", "handlers", "jobs"))], loaded
