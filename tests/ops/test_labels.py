"""Issue 13 item 7: one vocabulary (wecom_app/labels.py) for pages and exports. Every
action code, and every detail key, the code can write to the audit log has Chinese words:
the writers' calls (`audit(session, actor, ACTION, …, key=…)`, `audit_action(db, ACTION, …)`)
are read from the source, so a new code or key without words fails here; every rule
R1–R17 has a title."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

from wecom_app import labels
from wecom_app.violations import decisions, sanctions

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [p for top in ("wecom_app", "handlers", "jobs") for p in (ROOT / top).rglob("*.py")]
WRITERS = {"audit": 2, "audit_action": 1}  # the writer and where its action argument sits
# an action built at run time: the values its one placeholder can take, from the app's own constants
DYNAMIC = {
    "workbench.join.{}": ("approve", "reject"),  # workbench/groups.py join_decide's <action>
    "workbench.group.{}": ("archived", "dismissed"),  # workbench/groups.py group_retire's status
    "workbench.violation.{}": tuple(decisions.DECISIONS),
    "violation.{}": tuple(decisions.DECISIONS.values()),
    "sanction.{}": sanctions.STEPS,
}


def _module(path: Path):
    return importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))


def _codes(node: ast.expr, path: Path) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _codes(node.body, path) + _codes(node.orelse, path)
    if isinstance(node, ast.Name):  # a module constant such as real_names.ACTION
        value = getattr(_module(path), node.id)
        assert isinstance(value, str), f"{path}: {node.id} is not a str"
        return [value]
    if isinstance(node, ast.JoinedStr):
        template = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
        assert template in DYNAMIC, f"{path}:{node.lineno}: a new computed action {template!r}: list its values in DYNAMIC"
        return [template.format(value) for value in DYNAMIC[template]]
    raise AssertionError(f"{path}:{node.lineno}: an action the test cannot read: {ast.dump(node)}")


def calls(path: Path):
    """The audit writers' calls in one file."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if name in WRITERS:
                yield node


def written_codes() -> dict[str, str]:
    """{action code: where it is written} over every call to an audit writer."""
    found: dict[str, str] = {}
    for path in SOURCES:
        tree = ast.parse(path.read_text(), str(path))
        params: dict[int, set[str]] = {}  # each call's enclosing function's parameters (ast.walk: outer first)
        for function in ast.walk(tree):
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names = {a.arg for a in function.args.args + function.args.kwonlyargs}
                params.update((id(call), names) for call in ast.walk(function) if isinstance(call, ast.Call))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if name not in WRITERS:
                continue
            action = next((k.value for k in node.keywords if k.arg == "action"), None)
            if action is None and len(node.args) > WRITERS[name]:
                action = node.args[WRITERS[name]]
            if action is None or (isinstance(action, ast.Name) and action.id in params.get(id(node), ())):
                continue  # a writer handing its own caller's action along (workbench/access.py)
            for code in _codes(action, path):
                found[code] = f"{path.relative_to(ROOT)}:{node.lineno}"
    return found


def test_every_audit_action_the_code_writes_has_chinese_words():
    codes = written_codes()
    assert len(codes) > 60 and "workbench.login" in codes and "sanction.removal" in codes  # the reader reads
    missing = {code: where for code, where in codes.items() if code not in labels.ACTIONS}
    assert not missing, f"add these to wecom_app/labels.py ACTIONS: {missing}"
    for code, words in labels.ACTIONS.items():
        assert re.search(r"[\u4e00-\u9fff]", words), code


def test_every_detail_key_the_code_writes_has_chinese_words():
    """The audit log shows a detail's key in words (标题：…, not title: …)."""
    keys = {k.arg: f"{path.relative_to(ROOT)}:{call.lineno}" for path in SOURCES for call in calls(path)
            for k in call.keywords if k.arg not in (None, "now", "action")}
    assert "userid" in keys and "reason" in keys
    missing = {key: where for key, where in keys.items() if key not in labels.DETAIL_KEYS}
    assert not missing, f"add these to wecom_app/labels.py DETAIL_KEYS: {missing}"


def test_every_rule_r1_to_r17_has_a_title_and_a_label():
    assert list(labels.RULE_TITLES) == [f"R{n}" for n in range(1, 18)]
    assert labels.rule_label("R5") == "R5 发布与工作无关的内容"  # the violation's words where it has them
    assert labels.rule_label("R15") == "R15 办公室监督，纳入考核"  # the regulation's own title (regulation.py), as on 细则
    assert labels.rule_label("R99") == "R99" and labels.rule_label(None) == ""


def test_a_person_reads_as_name_with_userid_beside():
    assert labels.person("曹阳", "caoyang") == "曹阳（caoyang）"
    assert labels.person(None, "caoyang") == "caoyang" and labels.person("", "") == ""
