"""R3/R12 sensitive-word rules: /api/v1/sensitive-words pushes each list to WeCom's
敏感词 intercept rules through the outbox, against the emulator.

create → the rule exists in WeCom with its words and rule_id stored back; update →
words and range changed (range by difference); delete → gone; over WeCom's limits →
422 naming the field and nothing queued; WeCom refusing → the outbox row failed
with the errcode and the rule shows it."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from tests.conftest import make_settings
from wecom_app.models import AuditEntry, OutboxAction, SensitiveWordRule
from wecom_app.wecom import outbox
from wecom_app.workcal import WorkCalendar

from tests.plugins.api import bearer, error, issue_token

RULE = {"name": "禁用词-辱骂", "words": ["傻瓜", "项目天穹"], "semantics": [1], "intercept_type": 1,
        "users": ["hujie", "zhuxia"], "departments": [7]}


@pytest.fixture
def settings(db_url, emulator_url):
    return make_settings(database_url=db_url, api_base=emulator_url, wecom_timeout=2)


@pytest.fixture
def wecom(settings, runtime, sandbox_clock):
    from wecom_app.wecom.client import WeComClient

    clock = lambda: datetime.fromtimestamp(sandbox_clock(), timezone.utc)  # noqa: E731
    client = WeComClient(settings, runtime.sessions, clock=clock, sleep=lambda _s: None, max_attempts=1)

    def deliver():
        return outbox.send_due(runtime.sessions, client, settings, WorkCalendar(settings), runtime.clock())

    yield deliver
    client.close()


@pytest.fixture
def admin(runtime):
    return issue_token(runtime, "admin", name="office")


def rules_in_wecom(state) -> list[dict]:
    return list(state.intercept_rules.values())


def rows(runtime, kind=None) -> list[OutboxAction]:
    with runtime.sessions() as session:
        query = select(OutboxAction).order_by(OutboxAction.id)
        if kind:
            query = query.where(OutboxAction.kind == kind)
        return list(session.scalars(query))


def create(client, admin, body=RULE):
    response = client.post("/api/v1/sensitive-words", headers=bearer(admin), json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def get(client, admin, rule_id):
    return client.get(f"/api/v1/sensitive-words/{rule_id}", headers=bearer(admin)).get_json()


def test_r12_create_pushes_an_intercept_rule_and_stores_its_rule_id(client, runtime, admin, wecom, sandbox_state):
    body = create(client, admin)
    assert body["sync_status"] == "pending" and body["rule_id"] is None
    assert "customers" in body["coverage"]["covers"]
    (row,) = rows(runtime)
    assert row.kind == "externalcontact/add_intercept_rule" and row.hold is False
    assert wecom().sent == 1
    (rule,) = rules_in_wecom(sandbox_state)
    assert rule["word_list"] == ["傻瓜", "项目天穹"] and rule["rule_name"] == "禁用词-辱骂"
    assert rule["semantics_list"] == [1] and rule["intercept_type"] == 1
    assert rule["applicable_range"] == {"user_list": ["hujie", "zhuxia"], "department_list": [7]}
    after = get(client, admin, body["id"])
    assert after["sync_status"] == "synced" and after["rule_id"] == rule["rule_id"]
    listed = client.get("/api/v1/sensitive-words", headers=bearer(admin)).get_json()
    assert [r["rule_id"] for r in listed["items"]] == [rule["rule_id"]]
    with runtime.sessions() as session:
        assert session.scalar(select(AuditEntry.actor).where(AuditEntry.action == "sensitive_words.create")) == "api:office"


def test_r12_update_changes_words_and_range_by_difference(client, runtime, admin, wecom, sandbox_state):
    body = create(client, admin)
    wecom()
    changed = dict(RULE, words=["傻瓜", "笨蛋"], intercept_type=2, semantics=[2, 3], users=["hujie", "tony"],
                   departments=[])
    response = client.put(f"/api/v1/sensitive-words/{body['id']}", headers=bearer(admin), json=changed)
    assert response.status_code == 200 and response.get_json()["sync_status"] == "pending"
    (row,) = rows(runtime, "externalcontact/update_intercept_rule")
    assert row.payload["add_applicable_range"] == {"user_list": ["tony"], "department_list": []}
    assert row.payload["remove_applicable_range"] == {"user_list": ["zhuxia"], "department_list": [7]}
    assert row.payload["extra_rule"] == {"semantics_list": [2, 3]}
    # a second change while the first is in the outbox is refused, not merged
    again = client.put(f"/api/v1/sensitive-words/{body['id']}", headers=bearer(admin), json=RULE)
    assert again.status_code == 409
    assert wecom().sent == 1
    (rule,) = rules_in_wecom(sandbox_state)
    assert rule["word_list"] == ["傻瓜", "笨蛋"] and rule["intercept_type"] == 2 and rule["semantics_list"] == [2, 3]
    assert rule["applicable_range"] == {"user_list": ["hujie", "tony"], "department_list": []}
    assert get(client, admin, body["id"])["sync_status"] == "synced"


def test_r12_delete_removes_the_rule_from_wecom(client, runtime, admin, wecom, sandbox_state):
    body = create(client, admin)
    wecom()
    response = client.delete(f"/api/v1/sensitive-words/{body['id']}", headers=bearer(admin))
    assert response.status_code == 202
    assert wecom().sent == 1
    assert rules_in_wecom(sandbox_state) == []
    assert client.get(f"/api/v1/sensitive-words/{body['id']}", headers=bearer(admin)).status_code == 404
    assert client.get("/api/v1/sensitive-words", headers=bearer(admin)).get_json()["items"] == []


@pytest.mark.parametrize("change, field", [
    ({"name": "词" * 21}, "name"),
    ({"name": ""}, "name"),
    ({"words": []}, "words"),
    ({"words": [f"w{i}" for i in range(301)]}, "words"),
    ({"words": ["傻瓜", "长" * 33]}, "words[1]"),
    ({"semantics": [4]}, "semantics[0]"),
    ({"intercept_type": 3}, "intercept_type"),
    ({"users": [f"u{i}" for i in range(1001)]}, "users"),
    ({"departments": list(range(1, 1002))}, "departments"),
    ({"users": [], "departments": []}, "users"),
    ({"colour": "red"}, "colour"),
])
def test_r12_a_rule_over_wecoms_limits_is_422_naming_the_field(client, runtime, admin, change, field):
    response = client.post("/api/v1/sensitive-words", headers=bearer(admin), json=dict(RULE, **change))
    assert response.status_code == 422 and error(response)["field"] == field
    assert rows(runtime) == []
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(SensitiveWordRule)) == 0


def test_only_admins_manage_sensitive_words(client, runtime, admin):
    token = issue_token(runtime, "readonly")
    assert client.get("/api/v1/sensitive-words", headers=bearer(token)).status_code == 403
    assert client.post("/api/v1/sensitive-words", headers=bearer(token), json=RULE).status_code == 403


def test_r12_wecom_refusing_48002_fails_the_outbox_row_with_the_errcode(client, runtime, admin, wecom, sandbox_state):
    sandbox_state.external_contact_enabled = False  # not in 客户联系「可调用接口的应用」
    body = create(client, admin)
    stats = wecom()
    assert stats.failed == 1
    (row,) = rows(runtime)
    assert row.status == "failed" and row.errcode == 48002
    shown = get(client, admin, body["id"])
    assert shown["sync_status"] == "failed" and shown["errcode"] == 48002 and shown["rule_id"] is None
    assert rules_in_wecom(sandbox_state) == []
    # fixed in the console: the next change creates it
    sandbox_state.external_contact_enabled = True
    assert client.put(f"/api/v1/sensitive-words/{body['id']}", headers=bearer(admin), json=RULE).status_code == 200
    assert wecom().sent == 1
    assert get(client, admin, body["id"])["rule_id"] == rules_in_wecom(sandbox_state)[0]["rule_id"]


def test_r12_wecom_refusing_an_invisible_user_fails_with_40003(client, runtime, admin, wecom, sandbox_state):
    body = create(client, admin, dict(RULE, users=["nobody"]))
    assert wecom().failed == 1
    shown = get(client, admin, body["id"])
    assert shown["sync_status"] == "failed" and shown["errcode"] == 40003


def test_r12_the_outbox_job_stores_the_rule_id_without_an_api_read(client, runtime, admin, sandbox_state):
    import jobs.outbox

    body = create(client, admin)
    assert jobs.outbox.run(runtime).sent == 1
    with runtime.sessions() as session:
        rule = session.get(SensitiveWordRule, body["id"])
        assert rule.sync_status == "synced" and rule.rule_id == rules_in_wecom(sandbox_state)[0]["rule_id"]
