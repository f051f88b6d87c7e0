"""`/api/v1/sensitive-words` (admin): the office's banned-word lists, pushed to
WeCom's 敏感词 intercept rules (R3, R12; wecom_app/governance/sensitive_words.py).

- `GET /sensitive-words`: every rule not deleted, with its WeCom rule_id and sync
  status (pending / synced / failed with errcode), and `coverage`.
- `POST /sensitive-words`: create; `externalcontact/add_intercept_rule` is queued.
- `PUT /sensitive-words/{id}`: replace the rule's fields; update is queued.
- `DELETE /sensitive-words/{id}`: del_intercept_rule is queued (202), or the rule
  is simply dropped if WeCom never had it.

Limits are WeCom's (95130): name 1-20 characters, 1-300 words of 1-32
characters, semantics in 1 phone / 2 e-mail / 3 red packet, intercept_type 1
warn and block / 2 warn only, users and departments ≤1000 each and not both
empty, ≤100 rules. A violation is a 422 naming the field; a rule whose last
WeCom call is still in the outbox is a 409.

What WeCom enforces: only the listed employees' own outgoing messages in chats
with customers. Messages from external members and ordinary internal groups are
not documented as covered (UNCONFIRMED: treat as not covered).
"""

from __future__ import annotations

from flask import url_for

from wecom_app.api.auth import caller, require, runtime
from wecom_app.api.blueprint import bp, json_body
from wecom_app.api.errors import ApiError
from wecom_app.api.validate import USERID, Integer, Invalid, ListOf, Object, String, optional, validate
from wecom_app.governance import sensitive_words as sw


class _OneOfInts(Integer):
    def __init__(self, choices: dict[int, str]):
        super().__init__()
        self.choices = choices

    def clean(self, value, path):
        value = super().clean(value, path)
        if value not in self.choices:
            raise Invalid.at(path, "must be one of " + ", ".join(f"{k} ({v})" for k, v in self.choices.items()))
        return value


RULE = Object(
    name=String(sw.NAME_MAX),
    words=ListOf(String(sw.WORD_MAX), max_items=sw.WORDS_MAX, min_items=1),
    semantics=optional(ListOf(_OneOfInts(sw.SEMANTICS), max_items=3), default=list),
    intercept_type=optional(_OneOfInts(sw.INTERCEPT_TYPES), default=1),
    users=optional(ListOf(USERID, max_items=sw.RANGE_MAX), default=list),
    departments=optional(ListOf(Integer(minimum=1), max_items=sw.RANGE_MAX), default=list),
)


def _clean(body) -> dict:
    data = validate(RULE, body)
    if not data["users"] and not data["departments"]:
        raise Invalid.at("users", "users and departments cannot both be empty (WeCom needs a range)")
    return data


def _rule(session, rule_id: int) -> sw.SensitiveWordRule:
    rule = session.get(sw.SensitiveWordRule, rule_id)
    if rule is None or rule.sync_status == "deleted":
        raise ApiError(404, f"no sensitive-word rule {rule_id}")
    return rule


def _problem(exc: sw.RuleError):
    if exc.status == 422:
        raise Invalid.at(exc.field, exc.message) from None
    raise ApiError(exc.status, exc.message, code="busy") from None


@bp.get("/sensitive-words")
@require("admin")
def list_sensitive_words():
    rt = runtime()
    with rt.sessions.begin() as session:
        sw.apply_outbox_results(session, now=rt.clock())
        rules = session.scalars(sw.live_rules(session)).all()
        return {"items": [sw.view(r) for r in rules], "total": len(rules), "coverage": sw.COVERAGE}


@bp.get("/sensitive-words/<int:rule_id>")
@require("admin")
def get_sensitive_words(rule_id: int):
    rt = runtime()
    with rt.sessions.begin() as session:
        sw.apply_outbox_results(session, now=rt.clock())
        return sw.view(_rule(session, rule_id))


@bp.post("/sensitive-words")
@require("admin")
def create_sensitive_words():
    data = _clean(json_body())
    rt = runtime()
    try:
        with rt.sessions.begin() as session:
            rule = sw.create_rule(session, data, actor=caller().actor, now=rt.clock())
            session.flush()
            body = sw.view(rule)
    except sw.RuleError as exc:
        _problem(exc)
    return body, 201, {"Location": url_for("api.get_sensitive_words", rule_id=body["id"])}


@bp.put("/sensitive-words/<int:rule_id>")
@require("admin")
def update_sensitive_words(rule_id: int):
    data = _clean(json_body())
    rt = runtime()
    try:
        with rt.sessions.begin() as session:
            rule = sw.update_rule(session, _rule(session, rule_id), data, actor=caller().actor, now=rt.clock())
            session.flush()
            body = sw.view(rule)
    except sw.RuleError as exc:
        _problem(exc)
    return body


@bp.delete("/sensitive-words/<int:rule_id>")
@require("admin")
def delete_sensitive_words(rule_id: int):
    rt = runtime()
    try:
        with rt.sessions.begin() as session:
            rule = _rule(session, rule_id)
            sw.delete_rule(session, rule, actor=caller().actor, now=rt.clock())
            session.flush()
            body = sw.view(rule)
    except sw.RuleError as exc:
        _problem(exc)
    return body, 202 if body["sync_status"] == "pending" else 200


