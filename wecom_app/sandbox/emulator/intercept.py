"""Emulated 敏感词 intercept rules (客户联系 → 管理聊天敏感词, 3rd-party page 95130;
internal page id UNCONFIRMED): externalcontact/add_intercept_rule,
get_intercept_rule_list, get_intercept_rule, update_intercept_rule,
del_intercept_rule. Rules live in `state.intercept_rules` (rule_id → rule).

Validation as the page states it: rule_name 1-20 characters, word_list 1-300
words of 1-32 characters, semantics_list within {1 phone, 2 e-mail, 3 red
packet}, intercept_type 1 (warn and block) or 2 (warn only), applicable_range
with users and/or departments (≤1000 each) in the app's visible range, at most
100 rules per corp; the app must be in 客户联系「可调用接口的应用」(48002). The page
names no errcodes: the emulator answers 40058 (invalid parameter) for a bad
field, 40003 / 60123 for an unknown or invisible user / department and 40058
for an unknown rule_id or the 101st rule — our guesses, UNCONFIRMED.
Update takes `extra_rule.semantics_list` and changes the range by
add_applicable_range / remove_applicable_range (the shape WeCom's page uses).
"""

from __future__ import annotations

import copy
import uuid

from flask import Flask

from wecom_app.sandbox.emulator.api import ApiError, body, ok

NAME_MAX, WORDS_MAX, WORD_MAX, RANGE_MAX, RULES_MAX = 20, 300, 32, 1000, 100


def register(app: Flask, state) -> None:
    for api, view, method in (("add_intercept_rule", add_rule, "POST"), ("update_intercept_rule", update_rule, "POST"),
                              ("del_intercept_rule", del_rule, "POST"), ("get_intercept_rule", get_rule, "POST"),
                              ("get_intercept_rule_list", list_rules, "GET")):
        path = f"externalcontact/{api}"
        app.add_url_rule(f"/cgi-bin/{path}", path, (lambda view=view: view(state)), methods=[method])


def _allowed(state) -> None:
    if not state.external_contact_enabled:
        raise ApiError(48002, "app is not in 客户联系「可调用接口的应用」")


def _name(value) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= NAME_MAX:
        raise ApiError(40058, f"rule_name must be 1-{NAME_MAX} characters")
    return value


def _words(value) -> list[str]:
    if not isinstance(value, list) or not 1 <= len(value) <= WORDS_MAX:
        raise ApiError(40058, f"word_list must have 1-{WORDS_MAX} words")
    for word in value:
        if not isinstance(word, str) or not 1 <= len(word) <= WORD_MAX:
            raise ApiError(40058, f"each word must be 1-{WORD_MAX} characters")
    return list(value)


def _semantics(value) -> list[int]:
    value = value or []
    if not isinstance(value, list) or any(v not in (1, 2, 3) for v in value):
        raise ApiError(40058, "semantics_list takes 1, 2, 3")
    return list(value)


def _intercept_type(value) -> int:
    if value not in (1, 2):
        raise ApiError(40058, "intercept_type is 1 or 2")
    return value


def _range(state, value) -> tuple[list[str], list[int]]:
    value = value or {}
    if not isinstance(value, dict):
        raise ApiError(40058, "applicable_range must be an object")
    users, departments = value.get("user_list") or [], value.get("department_list") or []
    if not isinstance(users, list) or not isinstance(departments, list):
        raise ApiError(40058, "user_list and department_list are lists")
    if len(users) > RANGE_MAX or len(departments) > RANGE_MAX:
        raise ApiError(40058, f"at most {RANGE_MAX} users and {RANGE_MAX} departments")
    visible_users, visible_departments = state.visible_users(), state.visible_departments()
    found = []
    for userid in users:
        user = state.user(str(userid))
        if user is None or user["userid"] not in visible_users:
            raise ApiError(40003, f"{userid} is not in the app's visible range")
        found.append(user["userid"])
    for department in departments:
        if department not in visible_departments:
            raise ApiError(60123, f"department {department} is not in the app's visible range")
    return found, list(departments)


def add_rule(state):
    data = body()
    _allowed(state)
    with state.lock:
        rule = dict(rule_name=_name(data.get("rule_name")), word_list=_words(data.get("word_list")),
                    semantics_list=_semantics(data.get("semantics_list")),
                    intercept_type=_intercept_type(data.get("intercept_type")))
        users, departments = _range(state, data.get("applicable_range"))
        if not users and not departments:
            raise ApiError(40058, "applicable_range needs users or departments")
        if len(state.intercept_rules) >= RULES_MAX:
            raise ApiError(40058, f"at most {RULES_MAX} rules per corp")
        rule_id = uuid.uuid4().hex
        state.intercept_rules[rule_id] = dict(rule, rule_id=rule_id, create_time=int(state.now()),
                                              applicable_range=dict(user_list=users, department_list=departments))
        return ok(rule_id=rule_id)


def _rule(state, data) -> dict:
    rule = state.intercept_rules.get(data.get("rule_id") or "")
    if rule is None:
        raise ApiError(40058, "rule_id not found")
    return rule


def update_rule(state):
    data = body()
    _allowed(state)
    with state.lock:
        rule = _rule(state, data)
        changed = copy.deepcopy(rule)
        if "rule_name" in data:
            changed["rule_name"] = _name(data["rule_name"])
        if "word_list" in data:
            changed["word_list"] = _words(data["word_list"])
        if "extra_rule" in data:
            changed["semantics_list"] = _semantics((data["extra_rule"] or {}).get("semantics_list"))
        if "intercept_type" in data:
            changed["intercept_type"] = _intercept_type(data["intercept_type"])
        scope = changed["applicable_range"]
        add_users, add_departments = _range(state, data.get("add_applicable_range"))
        remove = data.get("remove_applicable_range") or {}
        gone_users = {str(u).lower() for u in remove.get("user_list") or []}
        gone_departments = set(remove.get("department_list") or [])
        users = [u for u in scope["user_list"] if u.lower() not in gone_users]
        departments = [d for d in scope["department_list"] if d not in gone_departments]
        users += [u for u in add_users if u not in users]
        departments += [d for d in add_departments if d not in departments]
        if not users and not departments:
            raise ApiError(40058, "applicable_range needs users or departments")
        changed["applicable_range"] = dict(user_list=users, department_list=departments)
        state.intercept_rules[rule["rule_id"]] = changed
        return ok()


def del_rule(state):
    data = body()
    _allowed(state)
    with state.lock:
        rule = _rule(state, data)
        del state.intercept_rules[rule["rule_id"]]
        return ok()


def get_rule(state):
    data = body()
    _allowed(state)
    with state.lock:
        rule = copy.deepcopy(_rule(state, data))
        return ok(rule=dict(rule_id=rule["rule_id"], rule_name=rule["rule_name"], word_list=rule["word_list"],
                            extra_rule=dict(semantics_list=rule["semantics_list"]),
                            intercept_type=rule["intercept_type"], applicable_range=rule["applicable_range"]))


def list_rules(state):
    _allowed(state)
    with state.lock:
        return ok(rule_list=[dict(rule_id=r["rule_id"], rule_name=r["rule_name"], create_time=r["create_time"])
                             for r in state.intercept_rules.values()])
