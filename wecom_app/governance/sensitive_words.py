"""Sensitive-word rules (R3, R12): the office's lists of banned words, pushed to
WeCom's 敏感词 intercept rules (客户联系 → 管理聊天敏感词; 3rd-party page 95130, the
internal page id is UNCONFIRMED, ~95097).

What WeCom's rules cover, and what they do not:

- They act on the **listed employees' own outgoing messages in chats with
  customers** (客户联系: one-to-one chats with external contacts and, by the
  docs' wording, customer groups): a message containing a word (or, with
  `semantics`, a phone number, an e-mail address or a red packet) is warned
  about and blocked (`intercept_type` 1) or only warned about (2).
- They do **not** look at messages sent by external members (customers), and
  they are not documented to apply to ordinary internal groups or internal
  one-to-one chats. Both are UNCONFIRMED: WeCom's page is silent, so treat them
  as not covered. Nothing is reported back to the app: a blocked message never
  reaches us, so a hit does not become a violation here (R3 reports still do).
- The app must be in 客户联系「可调用接口的应用」(else 48002); users and departments
  must be in the app's visible range; at most 100 rules per corp.

Each change is one outbox call (`externalcontact/add_intercept_rule`,
`update_intercept_rule`, `del_intercept_rule`). `apply_outbox_results` reads the
answers back: the `rule_id` of a create, `synced` after an update, the row
marked deleted after a delete, or `failed` with WeCom's errcode. It runs before
every read and change through the API (and may be called by a job). While a
call is pending a rule cannot be changed again (409): an update sends WeCom the
difference between the range it last accepted and the new one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from wecom_app.audit import audit
from wecom_app.db import utcnow
from wecom_app.models import OutboxAction, SensitiveWordRule
from wecom_app.wecom import outbox

ADD, UPDATE, DELETE = ("externalcontact/add_intercept_rule", "externalcontact/update_intercept_rule",
                       "externalcontact/del_intercept_rule")
KINDS = (ADD, UPDATE, DELETE)
# WeCom's limits (95130)
NAME_MAX, WORDS_MAX, WORD_MAX, RANGE_MAX, RULES_PER_CORP = 20, 300, 32, 1000, 100
SEMANTICS = {1: "phone number", 2: "e-mail address", 3: "red packet"}
INTERCEPT_TYPES = {1: "warn and block", 2: "warn only"}
# pending: a call is in the outbox; synced: WeCom has what we have; failed: WeCom
# refused the last call (errcode kept); deleted: gone from WeCom too
SYNC_STATUSES = ("pending", "synced", "failed", "deleted")
COVERAGE = {
    "covers": "the listed employees' own outgoing messages in chats with customers (客户联系)",
    "does_not_cover": [
        "messages sent by external members (customers) - UNCONFIRMED, WeCom does not say",
        "ordinary internal groups and internal one-to-one chats - UNCONFIRMED, WeCom does not say",
        "reporting hits back to the app: a blocked message is never seen here",
    ],
}


class RuleError(Exception):
    """A change that cannot be made now: `status` 409 (a call in flight) or 422 (`field`)."""

    def __init__(self, status: int, field: str, message: str):
        super().__init__(message)
        self.status, self.field, self.message = status, field, message


def _range(rule: SensitiveWordRule) -> dict[str, list]:
    return {"users": list(rule.users or []), "departments": list(rule.departments or [])}


def _queue(session: Session, rule: SensitiveWordRule, kind: str, payload: dict, now: datetime) -> None:
    session.flush()  # the rule's id for the key
    rule.version += 1
    row = outbox.enqueue(session, kind, payload, key=f"intercept-rule:{rule.id}:{rule.version}", now=now)
    session.flush()
    rule.outbox_id, rule.pending_call, rule.sync_status = row.id, kind, "pending"
    rule.errcode = rule.errmsg = None
    rule.updated_at = now


def add_payload(rule: SensitiveWordRule) -> dict:
    return {
        "rule_name": rule.name, "word_list": list(rule.words), "semantics_list": list(rule.semantics),
        "intercept_type": rule.intercept_type,
        "applicable_range": {"user_list": list(rule.users), "department_list": list(rule.departments)},
    }


def update_payload(rule: SensitiveWordRule) -> dict:
    """update_intercept_rule (95130): the word list is sent whole; semantics sit in
    `extra_rule`; the range is changed by difference (add_/remove_applicable_range)."""
    old = rule.synced_range or {"users": [], "departments": []}
    new = _range(rule)
    add = {"user_list": [u for u in new["users"] if u not in old["users"]],
           "department_list": [d for d in new["departments"] if d not in old["departments"]]}
    remove = {"user_list": [u for u in old["users"] if u not in new["users"]],
              "department_list": [d for d in old["departments"] if d not in new["departments"]]}
    payload = {"rule_id": rule.rule_id, "rule_name": rule.name, "word_list": list(rule.words),
               "extra_rule": {"semantics_list": list(rule.semantics)}, "intercept_type": rule.intercept_type}
    if add["user_list"] or add["department_list"]:
        payload["add_applicable_range"] = add
    if remove["user_list"] or remove["department_list"]:
        payload["remove_applicable_range"] = remove
    return payload


def live_rules(session: Session):
    return select(SensitiveWordRule).where(SensitiveWordRule.sync_status != "deleted").order_by(SensitiveWordRule.id)


def create_rule(session: Session, data: dict, *, actor: str, now: datetime | None = None) -> SensitiveWordRule:
    now = now or utcnow()
    apply_outbox_results(session, now=now)
    count = len(session.scalars(live_rules(session)).all())
    if count >= RULES_PER_CORP:
        raise RuleError(422, "name", f"WeCom keeps at most {RULES_PER_CORP} rules per corp")
    rule = SensitiveWordRule(**data, created_by=actor, created_at=now, updated_at=now, version=0)
    session.add(rule)
    _queue(session, rule, ADD, add_payload(rule), now)
    audit(session, actor, "sensitive_words.create", f"sensitive_words:{rule.id}", now=now, name=rule.name,
          words=len(rule.words))
    return rule


def _not_busy(rule: SensitiveWordRule) -> None:
    if rule.sync_status == "pending":
        raise RuleError(409, "id", f"rule {rule.id} has a WeCom call in flight ({rule.pending_call}); "
                                   "try again once it is sent")


def update_rule(session: Session, rule: SensitiveWordRule, data: dict, *, actor: str,
                now: datetime | None = None) -> SensitiveWordRule:
    now = now or utcnow()
    apply_outbox_results(session, now=now)
    _not_busy(rule)
    for field, value in data.items():
        setattr(rule, field, value)
    if rule.rule_id is None:  # the create never reached WeCom (refused): create it now
        _queue(session, rule, ADD, add_payload(rule), now)
    else:
        _queue(session, rule, UPDATE, update_payload(rule), now)
    audit(session, actor, "sensitive_words.update", f"sensitive_words:{rule.id}", now=now, fields=sorted(data))
    return rule


def delete_rule(session: Session, rule: SensitiveWordRule, *, actor: str, now: datetime | None = None) -> None:
    now = now or utcnow()
    apply_outbox_results(session, now=now)
    _not_busy(rule)
    if rule.rule_id is None:  # WeCom never had it
        rule.sync_status, rule.deleted_at, rule.updated_at = "deleted", now, now
    else:
        _queue(session, rule, DELETE, {"rule_id": rule.rule_id}, now)
    audit(session, actor, "sensitive_words.delete", f"sensitive_words:{rule.id}", now=now, rule_id=rule.rule_id)


def apply_outbox_results(session: Session, *, now: datetime | None = None) -> int:
    """Copy the answers of sent or failed outbox calls onto their rules; how many changed."""
    now = now or utcnow()
    changed = 0
    waiting = session.scalars(select(SensitiveWordRule).where(SensitiveWordRule.sync_status == "pending")).all()
    for rule in waiting:
        row = session.get(OutboxAction, rule.outbox_id) if rule.outbox_id else None
        if row is None or row.status not in ("sent", "failed", "cancelled"):
            continue
        changed += 1
        if row.status == "sent":
            if rule.pending_call == ADD:
                rule.rule_id = (row.result or {}).get("rule_id")
            if rule.pending_call == DELETE:
                rule.sync_status, rule.deleted_at = "deleted", now
            else:
                rule.sync_status, rule.synced_range = "synced", _range(rule)
        else:
            rule.sync_status = "failed"
            rule.errcode, rule.errmsg = row.errcode, row.errmsg or row.status
        rule.pending_call = None
        rule.updated_at = now
    return changed


def view(rule: SensitiveWordRule) -> dict:
    return {
        "id": rule.id, "name": rule.name, "words": list(rule.words), "semantics": list(rule.semantics),
        "intercept_type": rule.intercept_type, "users": list(rule.users), "departments": list(rule.departments),
        "rule_id": rule.rule_id, "sync_status": rule.sync_status, "pending_call": rule.pending_call,
        "outbox_id": rule.outbox_id, "errcode": rule.errcode, "errmsg": rule.errmsg,
        "created_by": rule.created_by,
        "created_at": rule.created_at.isoformat() if rule.created_at else None,
        "updated_at": rule.updated_at.isoformat() if rule.updated_at else None,
        "coverage": COVERAGE,
    }
