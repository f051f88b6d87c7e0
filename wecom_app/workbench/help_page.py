"""帮助 · 群管理细则 (/help/rules): the regulation's rules R1–R17, each with its anchor
(`#R5`), and what the app does for it in each kind of group (wecom_app/regulation.py).
Every logged-in person may read it.

The `rule_link` template filter turns a rule id wherever a page shows one into a
link to its anchor here (`{{ v.rule|rule_link }}`); an id that is not a rule is
shown as it is. `rule_links` does it for every rule id in a sentence (the field
hints and empty-state hints of _macros.html, titles that cite a rule)."""

from __future__ import annotations

import re

from flask import render_template, url_for
from markupsafe import Markup, escape

from wecom_app.regulation import BY_ID, KIND_WORDS, RULES
from wecom_app.workbench.access import login_required
from wecom_app.workbench.blueprint import bp

RULE_ID = re.compile(r"\bR(?:1[0-7]|[1-9])\b")


@bp.get("/help/rules")
@login_required
def help_rules():
    return render_template("workbench/help_rules.html", rules=RULES, kind_words=KIND_WORDS)


@bp.app_template_filter("rule_link")
def rule_link(rule_id, classes: str = "") -> Markup:
    """`R5` → a link to `/help/rules#R5` titled with the rule (`classes`: e.g. a badge's)."""
    rule = BY_ID.get(str(rule_id or ""))
    if rule is None:
        return escape(rule_id or "")
    href = url_for("workbench.help_rules", _anchor=rule.id)
    return Markup('<a class="wb-rule {}" href="{}" title="{}" data-rule="{}">{}</a>').format(
        classes, href, f"{rule.id} {rule.title}", rule.id, rule.id)


@bp.app_template_filter("rule_links")
def rule_links(text) -> Markup:
    """Plain text with each rule id in it (R1 … R17) a link; everything else escaped."""
    if isinstance(text, Markup):
        return text  # already HTML: left as it is
    text = str(text or "")
    out, last = [], 0
    for match in RULE_ID.finditer(text):
        out += [escape(text[last:match.start()]), rule_link(match.group(0))]
        last = match.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)
