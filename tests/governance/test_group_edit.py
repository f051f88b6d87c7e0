"""Editing and retiring a group (issue 13 item 6): a scope change previewed then applied
through the outbox (appchat/update for a managed group, one custodian task for the kinds
the app cannot change: R9, R11), a rename (appchat/update name, 98913; a task for the
others), a new custodian (R10), one name per group (R8), archiving (no longer governed)."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import func, select

from wecom_app import announcements
from wecom_app.governance import group_edit, membership, registry
from wecom_app.governance.scope import active_in_scope
from wecom_app.models import AuditEntry, Group, GroupMember, Violation

from tests.plugins.world import actions, deliver, member, texts_to

RD, HUADONG = 8, 6  # 研发部 (曹阳, 彭飞, …), 华东销售组 (胡杰, 朱霞, …)


def managed(world, name="研发部-周会", scope=None) -> int:
    """A managed group of 研发部, created in the emulator and active."""
    with world.sessions.begin() as session:
        group = registry.create_managed_group(
            session, world.settings, name=name, owner="wangfang", custodian="caoyang",
            scope=scope or {"departments": [RD]}, allow_external=False, join_policy="auto", actor="api:office",
            now=world.now())
        group_id = group.id
    deliver(world)
    with world.sessions.begin() as session:
        registry.settle_created_groups(session, world.now())
    return group_id


def internal(world, members=("caoyang", "pengfei", "zenglin")) -> int:
    with world.sessions.begin() as session:
        group = registry.register_group(session, world.settings, kind="internal", chat_id=None, name="研发交流群",
                                        owner="caoyang", custodian="pengfei", scope={"departments": [RD]},
                                        allow_external=False, robot_webhook=None, actor="office", now=world.now())
        session.add_all(GroupMember(group_id=group.id, member_id=u, compliance="ok") for u in members)
        return group.id


def test_r11_scope_preview_names_who_is_added_and_removed(world):
    group_id = managed(world)
    with world.sessions() as session:
        group = session.get(Group, group_id)
        change = group_edit.preview(session, group, {"departments": [HUADONG], "exclude": ["tony"]})
        huadong = active_in_scope(session, {"departments": [HUADONG]}) - {"tony"}
        assert set(change.added) == huadong and "tony" not in change.added
        # caoyang is the custodian and wangfang the owner: always members, never removed
        assert "pengfei" in change.removed and "caoyang" not in change.removed and "wangfang" not in change.removed
        view = change.view(session)
        # two people called 李娜: told apart by their department
        assert ("李娜", "华东销售组") in {(p["name"], p["department"]) for p in view["added"]}
        assert view["applied_by"] == "appchat"
        assert session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "group.edit")) == 0


def test_r9_r11_scope_change_of_a_managed_group_goes_through_one_appchat_update(world):
    group_id = managed(world)
    with world.sessions.begin() as session:
        group = session.get(Group, group_id)
        chat_id = group.chat_id
        changed = group_edit.edit_group(session, world.settings, group, scope={"departments": [HUADONG]},
                                        actor="zhangwei", now=world.now())
        assert "hujie" in changed["added"] and "pengfei" in changed["removed"]
        (update,) = actions(session, "appchat/update")
        assert set(update.payload["add_user_list"]) == set(changed["added"])
        assert set(update.payload["del_user_list"]) == set(changed["removed"])
        assert member(session, group_id, "pengfei").state == "removing"
        assert member(session, group_id, "hujie").state == "present"
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "group.edit"))
        assert entry.actor == "zhangwei" and entry.details["scope"][1]["departments"] == [HUADONG]
    deliver(world)
    userlist = set(world.state.appchats[chat_id]["userlist"])
    assert "hujie" in userlist and "pengfei" not in userlist and {"wangfang", "caoyang"} <= userlist
    with world.sessions() as session:  # the office changed the scope: nobody broke R11
        assert session.scalar(select(func.count()).select_from(Violation)) == 0


def test_r8_rename_of_a_managed_group_goes_to_wecom(world):
    group_id = managed(world)
    with world.sessions.begin() as session:
        group = session.get(Group, group_id)
        chat_id = group.chat_id
        assert group_edit.edit_group(session, world.settings, group, name="研发部-例会", actor="zhangwei",
                                     now=world.now()) == {"name": ["研发部-周会", "研发部-例会"]}
        (update,) = actions(session, "appchat/update")
        assert update.payload == {"chatid": chat_id, "name": "研发部-例会"}
    deliver(world)
    assert world.state.appchats[chat_id]["name"] == "研发部-例会"


def test_r10_new_custodian_joins_a_managed_group_and_the_old_one_leaves_when_out_of_scope(world):
    group_id = managed(world, scope={"departments": [RD]})
    with world.sessions.begin() as session:
        group = session.get(Group, group_id)
        group.custodian = "yexin"  # from 人力资源部: out of the 研发部 scope
        session.add(GroupMember(group_id=group_id, member_id="yexin", compliance="ok"))
    with world.sessions.begin() as session:
        group = session.get(Group, group_id)
        changed = group_edit.edit_group(session, world.settings, group, custodian="hujie", actor="zhangwei",
                                        now=world.now())
        assert changed["custodian"] == ["yexin", "hujie"]
        assert changed["added"] == ["hujie"] and changed["removed"] == ["yexin"]


def test_r9_scope_change_of_an_internal_group_is_one_custodian_task(world):
    group_id = internal(world)
    with world.sessions.begin() as session:
        group = session.get(Group, group_id)
        changed = group_edit.edit_group(session, world.settings, group, scope={"departments": [RD], "exclude": ["zenglin"]},
                                        actor="zhangwei", now=world.now())
        assert changed["removed"] == ["zenglin"]
        assert not actions(session, "appchat/update")  # no API changes an ordinary group
        (task,) = [t for t in texts_to(session, "pengfei") if "成员范围已调整" in t]
        assert "请移出（1 人）：曾琳（研发部）" in task and "请邀请入群" in task
        assert member(session, group_id, "zenglin").compliance == "out_of_scope"
        assert session.scalar(select(func.count()).select_from(Violation)) == 0
        # the rules do not tell anyone twice: a re-check leaves the finding as it is
        membership.review_group(session, world.settings, group, world.now())
        assert len([t for t in texts_to(session, "pengfei") if "曾琳" in t]) == 1


def test_r8_rename_of_an_internal_group_is_recorded_and_the_custodian_told(world):
    group_id = internal(world)
    with world.sessions.begin() as session:
        group = session.get(Group, group_id)
        group_edit.edit_group(session, world.settings, group, name="研发部-交流群", actor="zhangwei", now=world.now())
        assert group.name == "研发部-交流群" and not actions(session, "appchat/update")
        assert any("请群主在客户端把群名改为「研发部-交流群」" in t for t in texts_to(session, "pengfei"))


@pytest.mark.parametrize("fields, field", [
    (dict(name="🙂"), "name"),
    (dict(custodian="jiayun"), "custodian"),  # not activated (R1)
    (dict(scope={"users": ["ghost1"]}), "scope.users"),
    (dict(join_policy="approval"), "join_policy"),  # an internal group has no join policy
])
def test_r8_edit_refuses_a_bad_field_and_changes_nothing(world, fields, field):
    group_id = internal(world)
    with pytest.raises(registry.RegistryError) as refused:
        with world.sessions.begin() as session:
            group_edit.edit_group(session, world.settings, session.get(Group, group_id), actor="zhangwei",
                                  now=world.now(), **fields)
    assert refused.value.field == field
    with world.sessions() as session:
        group = session.get(Group, group_id)
        assert (group.name, group.custodian, group.scope) == ("研发交流群", "pengfei", {"departments": [RD], "tags": [],
                                                                                  "users": [], "exclude": []})


def test_r8_a_second_group_with_the_same_name_is_refused_until_the_first_is_archived(world):
    group_id = managed(world, name="RD 周会")
    for name in ("RD 周会", "rd  周会"):  # case and spacing aside, the same name
        with pytest.raises(registry.RegistryError, match="already exists") as refused:
            with world.sessions.begin() as session:
                registry.register_group(session, world.settings, kind="internal", chat_id=None, name=name,
                                        owner="caoyang", custodian="pengfei", scope={}, allow_external=False,
                                        robot_webhook=None, actor="office", now=world.now())
        assert refused.value.field == "name"
    with world.sessions.begin() as session:
        group_edit.retire_group(session, world.settings, session.get(Group, group_id), status="archived",
                                actor="zhangwei", now=world.now())
    with world.sessions.begin() as session:
        registry.register_group(session, world.settings, kind="internal", chat_id=None, name="RD 周会",
                                owner="caoyang", custodian="pengfei", scope={}, allow_external=False,
                                robot_webhook=None, actor="office", now=world.now())


def test_archived_group_is_no_longer_governed_and_kept(world):
    group_id = managed(world)
    with world.sessions.begin() as session:
        group = session.get(Group, group_id)
        group_edit.retire_group(session, world.settings, group, status="archived", actor="zhangwei", now=world.now())
        assert any("企业微信没有解散应用群的接口" in t for t in texts_to(session, "caoyang"))
        assert announcements.route(world.settings, group)[0] is None
        with pytest.raises(registry.RegistryError):  # kept as a record: not edited
            group_edit.edit_group(session, world.settings, group, name="研发部-例会", actor="zhangwei", now=world.now())
    world.state.users["pengfei"]["status"] = 5
    with world.sessions.begin() as session:
        session.get(Group, group_id)
        membership.review_user(session, world.settings, "pengfei", world.now(), gone=True)
        assert not actions(session, "appchat/update")  # R1 no longer acted on in an archived group
        assert member(session, group_id, "pengfei").state == "present"


def test_only_an_internal_groups_dismissal_is_recorded_by_hand(world):
    group_id = managed(world)
    with pytest.raises(registry.RegistryError, match="internal"):
        with world.sessions.begin() as session:
            group_edit.retire_group(session, world.settings, session.get(Group, group_id), status="dismissed",
                                    actor="zhangwei", now=world.now())
    internal_id = internal(world)
    with world.sessions.begin() as session:
        group_edit.retire_group(session, world.settings, session.get(Group, internal_id), status="dismissed",
                                actor="zhangwei", now=world.now())
        assert session.get(Group, internal_id).status == "dismissed"


def test_r9_a_scope_the_group_size_cannot_hold_is_refused_before_anything_is_queued(world):
    group_id = managed(world)  # 14 members
    small = dataclasses.replace(world.settings, group_size_limit=20)  # 华东销售组 adds 10 more
    with pytest.raises(registry.RegistryError, match="more than the company's group size of 20") as refused:
        with world.sessions.begin() as session:
            group_edit.edit_group(session, small, session.get(Group, group_id), actor="zhangwei", now=world.now(),
                                  scope={"departments": [RD, HUADONG]})
    assert refused.value.field == "scope"
    with world.sessions() as session:
        assert session.get(Group, group_id).scope["departments"] == [RD] and not actions(session, "appchat/update")


def test_r13_external_contacts_no_longer_allowed_go_into_the_custodians_task(world):
    with world.sessions.begin() as session:
        group = registry.register_group(session, world.settings, kind="customer", chat_id="wrCustomer0001",
                                        name="华东客户群", owner="hujie", custodian="hujie",
                                        scope={"departments": [HUADONG]}, allow_external=True, robot_webhook=None,
                                        actor="office", now=world.now())
        session.add_all([GroupMember(group_id=group.id, member_id="hujie", compliance="ok"),
                         GroupMember(group_id=group.id, member_id="wmCustomerZhao", member_type=2,
                                     group_nickname="赵总", compliance="ok")])
        group_id = group.id
    with world.sessions.begin() as session:
        group = session.get(Group, group_id)
        changed = group_edit.edit_group(session, world.settings, group, allow_external=False, actor="zhangwei",
                                        now=world.now())
        assert changed["allow_external"] == [True, False] and changed["removed"] == ["wmCustomerZhao"]
        assert member(session, group_id, "wmCustomerZhao").compliance == "external_not_allowed"
        (task,) = [t for t in texts_to(session, "hujie") if "成员范围已调整" in t]
        assert "请移出（1 人）：赵总（wmCustomerZhao）" in task
        assert session.scalar(select(func.count()).select_from(Violation)) == 0
