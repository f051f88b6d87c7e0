"""handlers/group_chat.py, one short test per change_external_chat fixture (92130):
create, add_member in both MemChangeList forms, without a list and with a short one,
del_member, change_owner/change_name (with and without member versions), dismiss. The chat is 华东客户交流群, registered with the 华东销售组 as its scope."""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from tests.callbacks import fixture
from tests.conftest import make_settings
from wecom_app.governance import membership, registry
from wecom_app.models import AuditEntry, Group, GroupMember, GroupReread

from tests.plugins.world import actions, group_by_chat, member, push, seed_directory, texts_to

CHAT = "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA"
EXTERNAL = "wmOgQhDgAAuXFJGwbve4g4iXknfOAAAA"
NOW = datetime(2026, 3, 3, 2, 0, tzinfo=timezone.utc)  # a Tuesday, 10:00 in Shanghai
LAST, CUR = "9c3f97c2ada667dfb5f6d03308d963e1", "2b1d3e4f5a6978c0d1e2f3a4b5c6d7e8"  # the versions of the pushes below


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
        with hub.sessions() as session:
            assert session.scalar(select(GroupReread.reason)) == "no_versions"  # re-read at once
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
        assert session.scalar(select(GroupReread.reason)) == "missed_event"  # what we missed is read at once


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


def hold_version(hub, group_id, version):
    with hub.sessions.begin() as session:
        group = session.get(Group, group_id)
        group.member_version, group.reconciled_at = version, NOW


@pytest.mark.parametrize("name, reason, judged", [
    ("change_external_chat__update__add_member__no_list", "no_list", {}),
    ("change_external_chat__update__add_member__partial_list", "partial_list", {EXTERNAL: "external_not_allowed"}),
])
def test_r13_push_not_naming_every_joiner_gets_the_group_reread_now_and_keeps_its_version(hub, name, reason, judged):
    group_id = register(hub)
    hold_version(hub, group_id, LAST)  # the push's LastMemVer: a complete push would advance us to CUR
    push(hub, fixture(name))  # MemChangeCnt 3, and no MemChangeList or one item
    with hub.sessions() as session:
        assert {m.member_id: m.compliance for m in session.scalars(select(GroupMember))} == judged
        assert session.get(Group, group_id).member_version != CUR  # not advanced by an incomplete push
        row = session.scalar(select(GroupReread))
        assert (row.group_id, row.reason, row.want_version, row.due_at) == (group_id, reason, CUR, NOW)


def test_complete_push_advances_the_version_and_asks_for_no_reread(hub):
    group_id = register(hub)
    hold_version(hub, group_id, LAST)
    push(hub, fixture("change_external_chat__update__add_member"))  # MemChangeCnt 2, two items
    with hub.sessions() as session:
        assert session.get(Group, group_id).member_version == "71217227bbd112ecfe3a49c482195cb4"
        assert session.scalar(select(GroupReread)) is None


def test_change_name_whose_member_versions_moved_gets_the_group_reread_now(hub):
    group_id = register(hub)
    hold_version(hub, group_id, LAST)
    push(hub, fixture("change_external_chat__update__change_name__versions"))  # versions, no list
    with hub.sessions() as session:
        row = session.scalar(select(GroupReread))
        assert (row.reason, row.want_version, row.due_at) == ("version_moved", CUR, NOW)


def test_change_name_with_the_version_we_hold_waits_for_the_regular_pass(hub):
    group_id = register(hub)
    hold_version(hub, group_id, CUR)
    push(hub, fixture("change_external_chat__update__change_name__versions").replace(LAST, CUR))
    with hub.sessions() as session:
        group = session.get(Group, group_id)
        assert (group.member_version, group.reconciled_at) == (CUR, None)  # the name is read on the next pass
        assert session.scalar(select(GroupReread)) is None


def test_r11_nobody_is_taken_for_the_inviter_of_a_qr_code_join(hub):
    """groupchat/get returns `invitor` only when a member invited (92122); even if it named one
    for a join_scene 3 (QR code) join, nobody is told they invited a stranger."""
    group_id = register(hub)
    with hub.sessions.begin() as session:
        group = session.get(Group, group_id)
        joined = membership.member_joined(session, hub.settings, group, "caoyang", NOW)  # R&D: out of scope
        info = {"userid": "caoyang", "type": 1, "join_scene": 3, "invitor": {"userid": "zhuxia"}}
        membership.apply_member_info(session, hub.settings, group, joined, info, NOW)
    with hub.sessions() as session:
        assert (member(session, group_id, "caoyang").compliance, member(session, group_id, "caoyang").invitor) == (
            "out_of_scope", None)
        assert texts_to(session, "zhuxia") == [] and len(texts_to(session, "wujun")) == 1
