"""handlers/group_chat.py, one short test per change_external_chat fixture (92130):
create, add_member in both MemChangeList forms, del_member, change_owner/change_name,
dismiss. The chat is 华东客户交流群, registered with the 华东销售组 as its scope."""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from tests.callbacks import fixture
from tests.conftest import make_settings
from wecom_app import registry
from wecom_app.audit import AuditEntry
from wecom_app.groups import Group, GroupMember

from .test_rules_support import actions, group_by_chat, member, push, seed_directory, texts_to

CHAT = "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA"
EXTERNAL = "wmOgQhDgAAuXFJGwbve4g4iXknfOAAAA"
NOW = datetime(2026, 3, 3, 2, 0, tzinfo=timezone.utc)  # a Tuesday, 10:00 in Shanghai


@pytest.fixture
def hub(db_url, sessions, sandbox_state):
    """The handler layer alone: a seeded mirror, the real router, no WeCom."""
    hub = SimpleNamespace(sessions=sessions, settings=make_settings(database_url=db_url), now=lambda: NOW)
    with sessions.begin() as session:
        seed_directory(session, sandbox_state)
    return hub


def register(hub, **fields):
    with hub.sessions.begin() as session:
        return registry.register_group(session, hub.settings, **{**dict(
            kind="customer", chat_id=CHAT, name="华东客户交流群", owner="hujie", custodian="wujun",
            scope={"departments": [6]}, allow_external=False, robot_webhook=None, actor="api:office",
            now=NOW), **fields}).id


def test_create_discovers_the_group_for_registration(hub):
    push(hub, fixture("change_external_chat__create"))
    push(hub, fixture("change_external_chat__create").replace("1763900100", "1763900101"))  # a second look
    with hub.sessions() as session:
        (group,) = session.scalars(select(Group)).all()
        assert (group.kind, group.status, group.chat_id) == ("customer", "discovered", CHAT)
        assert session.scalar(select(AuditEntry.action)) == "group.discovered"


@pytest.mark.parametrize("name", ["change_external_chat__update__add_member", "change_external_chat__update__add_member__legacy"])
def test_add_member_judges_each_member_in_either_list_form(hub, name):
    group_id = register(hub)
    push(hub, fixture(name))
    with hub.sessions() as session:
        members = {m.member_id: (m.member_type, m.compliance) for m in session.scalars(select(GroupMember))}
        group = session.get(Group, group_id)
    if name.endswith("legacy"):  # <MemChangeList><![CDATA[Jack,Rose]]>, and no versions: re-read the group
        assert members == {"jack": (1, "not_active"), "rose": (1, "not_active")}
        assert group.member_version is None and group.reconciled_at is None
    else:
        assert members == {"jack": (1, "not_active"), EXTERNAL: (2, "external_not_allowed")}
        assert group.member_version == "71217227bbd112ecfe3a49c482195cb4"


def test_add_member_after_a_missed_event_marks_the_group_for_reconciliation(hub):
    register(hub)
    with hub.sessions.begin() as session:
        group_by_chat(session, CHAT).member_version = "someolderversion"
    push(hub, fixture("change_external_chat__update__add_member"))
    with hub.sessions() as session:
        assert group_by_chat(session, CHAT).member_version is None  # LastMemVer ≠ ours (pitfall 8)


def test_add_member_to_an_unregistered_group_records_without_judging(hub):
    push(hub, fixture("change_external_chat__update__add_member"))
    with hub.sessions() as session:
        assert group_by_chat(session, CHAT).status == "discovered"
        assert {m.compliance for m in session.scalars(select(GroupMember))} == {"unknown"}
        assert actions(session, "message/send") == []


def test_del_member_records_the_departure_of_a_flagged_member(hub):
    group_id = register(hub)
    push(hub, fixture("change_external_chat__update__add_member"))
    push(hub, fixture("change_external_chat__update__del_member"))  # the owner removed the stranger (QuitScene 1)
    with hub.sessions() as session:
        assert member(session, group_id, EXTERNAL).state == "removed"
        assert group_by_chat(session, CHAT).member_version == "5c6b8bd1a2e3f4a5b6c7d8e9f0a1b2c3"
        left = session.scalar(select(AuditEntry).where(AuditEntry.action == "member.left"))
        assert left.details["userid"] == EXTERNAL and left.details["QuitScene"] == "1"
        assert len(texts_to(session, "wujun")) == 2  # the two tasks from the joins; the leave tells no one


@pytest.mark.parametrize("name", ["change_external_chat__update__change_owner", "change_external_chat__update__change_name"])
def test_owner_and_name_changes_mark_the_group_for_reconciliation(hub, name):
    register(hub)
    with hub.sessions.begin() as session:
        group = group_by_chat(session, CHAT)
        group.member_version, group.reconciled_at = "v1", NOW
    push(hub, fixture(name))
    with hub.sessions() as session:
        group = group_by_chat(session, CHAT)
        assert (group.member_version, group.reconciled_at, group.owner) == (None, None, "hujie")


def test_dismiss(hub):
    register(hub)
    push(hub, fixture("change_external_chat__dismiss"))
    with hub.sessions() as session:
        assert group_by_chat(session, CHAT).status == "dismissed"
