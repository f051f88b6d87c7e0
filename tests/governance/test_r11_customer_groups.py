"""R11 (join only groups you belong in; the inviter is recorded and told), R13 (external
contacts only where allowed) and R2 (real names) in customer groups, whose members the
app cannot remove: each finding becomes a task for the owner and custodian."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from wecom_app.db import make_engine
from wecom_app.governance import registry, scope
from wecom_app.models import AuditEntry

from tests.plugins.world import actions, group_by_chat, member, push, texts_to

CHAT = "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA"  # 华东客户交流群, owned by hujie
STRANGER = "wmOgQhDgAAnewcustomerXXXXXXXXXAAA"


def register(world, allow_external=False, **fields):
    values = dict(kind="customer", chat_id=CHAT, name="华东客户交流群", owner="hujie", custodian="wujun",
                  scope={"departments": [6]}, allow_external=allow_external, robot_webhook=None, actor="api:office",
                  now=world.now())
    values.update(fields)
    with world.sessions.begin() as session:
        return registry.register_group(session, world.settings, **values).id


def reconcile(world, group_id, userid):
    """What the reconciliation job does for one member: groupchat/get from the emulator, applied."""
    from wecom_app.governance import membership
    from wecom_app.models import Group

    chat = world.client.groupchat_get(CHAT)["group_chat"]
    info = next(m for m in chat["member_list"] if m["userid"] == userid)
    with world.sessions.begin() as session:
        membership.apply_member_info(session, world.settings, session.get(Group, group_id),
                                     member(session, group_id, userid), info, world.now())


def violations(session):
    return [(e.details["rule"], e.details["userid"]) for e in
            session.scalars(select(AuditEntry).where(AuditEntry.action == "violation.detected"))]


def test_r11_external_user_joining_customer_group_becomes_custodian_task(world):
    group_id = register(world)
    push(world, world.state.groupchat_add_member(CHAT, STRANGER, JoinScene=3, group_nickname="路人甲"))
    with world.sessions() as session:
        stranger = member(session, group_id, STRANGER)
        assert (stranger.member_type, stranger.compliance, stranger.state) == (2, "external_not_allowed", "present")
        (task,) = texts_to(session, "wujun")
        assert STRANGER in task and "客户端将其移出" in task and texts_to(session, "hujie") == [task]
        assert actions(session, "appchat/update") == [] and violations(session) == [("R13", STRANGER)]
    push(world, world.state.groupchat_add_member(CHAT, "wmOgQhDgAAanotherone0000000000AAA"))
    with world.sessions() as session:  # the earlier finding is not told twice
        assert len(texts_to(session, "wujun")) == 2


def test_r13_external_contact_where_allowed_is_fine(world):
    group_id = register(world, allow_external=True)
    push(world, world.state.groupchat_add_member(CHAT, STRANGER))
    with world.sessions() as session:
        assert member(session, group_id, STRANGER).compliance == "ok" and texts_to(session, "wujun") == []


def test_r11_out_of_scope_employee_joining_customer_group_inviter_told(world):
    group_id = register(world)
    push(world, world.state.groupchat_add_member(CHAT, "caoyang", JoinScene=0, invitor="zhuxia"))
    with world.sessions() as session:
        joined = member(session, group_id, "caoyang")
        assert joined.compliance == "out_of_scope" and joined.invitor is None  # not in the event (92130)
        assert "曹阳" in texts_to(session, "wujun")[0] and violations(session) == [("R11", "caoyang")]
    for _ in range(2):  # reconciliation reads the inviter from groupchat/get (92122); twice tells once
        reconcile(world, group_id, "caoyang")
    with world.sessions() as session:
        assert member(session, group_id, "caoyang").invitor == "zhuxia"
        (told,) = texts_to(session, "zhuxia")
        assert "您邀请的 曹阳（caoyang）" in told and "R11" in told


@pytest.mark.both_databases  # the directory's version is a trigger per dialect
@pytest.mark.parametrize("change", ["moved_in", "departed"])
def test_r1_r11_a_directory_change_by_another_process_is_seen_by_the_next_join(world, change):
    """The dispatcher keeps the scope index across batches: a move or a departure written by
    another process (raw SQL, the directory-sync job elsewhere) decides the very next join."""
    group_id = register(world)
    with world.sessions() as session:  # an earlier batch built and kept the index
        assert "caoyang" not in scope.expand_scope(session, {"departments": [6]})
    other = make_engine(world.settings.database_url)
    with other.begin() as conn:
        if change == "moved_in":
            conn.execute(text("UPDATE user_department SET department_id = 6 WHERE userid = 'caoyang'"))
        else:
            conn.execute(text("UPDATE wecom_user SET status = 5 WHERE userid = 'zhuxia'"))
    other.dispose()
    joined = "caoyang" if change == "moved_in" else "zhuxia"
    push(world, world.state.groupchat_add_member(CHAT, joined))
    with world.sessions() as session:
        compliance = member(session, group_id, joined).compliance
    assert compliance == "ok" if change == "moved_in" else compliance not in ("ok", "unknown")


def test_r1_not_activated_employee_joining_customer_group_is_flagged(world):
    group_id = register(world, scope={"departments": [6, 8]})
    push(world, world.state.groupchat_add_member(CHAT, "jiayun"))
    with world.sessions() as session:
        assert member(session, group_id, "jiayun").compliance == "not_active" and violations(session) == [("R1", "jiayun")]


def test_r2_bad_name_flagged(world):
    group_id = register(world)
    push(world, world.state.groupchat_add_member(CHAT, "tony"),  # directory name "Tony"
         world.state.groupchat_add_member(CHAT, "mali", group_nickname="Molly"),  # 马丽 calls herself Molly in the group
         world.state.groupchat_add_member(CHAT, "heyong", group_nickname="何勇"))
    with world.sessions() as session:  # nicknames are not in the event: groupchat/get has them
        assert member(session, group_id, "mali").compliance == "ok"
    for userid in ("mali", "heyong"):
        reconcile(world, group_id, userid)
    with world.sessions() as session:
        found = {u: member(session, group_id, u).compliance for u in ("tony", "mali", "heyong")}
        assert found == {"tony": "bad_name", "mali": "bad_name", "heyong": "ok"}
        assert ["实名提醒" in t for t in texts_to(session, "tony")] == [True]
        assert actions(session, "appchat/update") == [] and texts_to(session, "wujun") == []  # a reminder, no task


def test_r2_group_name_pattern_overrides_the_company_pattern(world):
    from wecom_app.governance import naming
    from wecom_app.models import Group

    group_id = register(world, chat_id="wrOgQhDgAAcwMTB7YmDkbeBsgT_AAAAA", name="华南VIP客户群", owner="zhengming",
                        custodian="wujun", scope={"departments": [7]})
    with world.sessions.begin() as session:
        group = session.get(Group, group_id)
        group.name_pattern = naming.DEPARTMENT_DASH_NAME
        from wecom_app.governance import membership

        li = membership.member_joined(session, world.settings, group, "xiaoshouli", world.now())  # 销售-李
        assert li.compliance == "ok"


def test_r7_unregistered_customer_group_members_recorded_not_judged(world):
    push(world, world.state.groupchat_create("wrNEWchat00000000000000000000AA", "新客户群", "hujie", ["caoyang"]),
         world.state.groupchat_add_member("wrNEWchat00000000000000000000AA", STRANGER))
    with world.sessions() as session:
        group = group_by_chat(session, "wrNEWchat00000000000000000000AA")
        assert group.status == "discovered" and member(session, group.id, STRANGER).compliance == "unknown"
        assert actions(session, "message/send") == []
    group_id = register(world, chat_id="wrNEWchat00000000000000000000AA", name="新客户群")
    with world.sessions() as session:  # registration judges what was recorded
        assert member(session, group_id, STRANGER).compliance == "external_not_allowed"
