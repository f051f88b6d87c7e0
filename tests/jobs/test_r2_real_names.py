"""R2 real names: a member whose directory name or group nickname breaks the pattern (the
group's own pattern overrides the company's) is reminded, once a working day and never
outside working time, for REAL_NAME_GRACE_DAYS; a name fixed in time ends it with no
violation; a name still bad afterwards becomes one R2 violation for the custodian, never
a removal. Time is passed in, never slept on."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from wecom_app.governance import membership, naming, real_names, registry
from wecom_app.models import AuditEntry, Group, GroupMember, OutboxAction, Violation
from wecom_app.wecom import outbox

from tests.plugins.world import actions, member, push, texts_to

CHAT = "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA"  # 华东客户交流群, owned by hujie
VIP = "wrOgQhDgAAcwMTB7YmDkbeBsgT_AAAAA"  # 华南VIP客户群
SHANGHAI = ZoneInfo("Asia/Shanghai")


def register(world, chat_id=CHAT, name="华东客户交流群", **fields):
    values = dict(kind="customer", chat_id=chat_id, name=name, owner="hujie", custodian="wujun",
                  scope={"departments": [6]}, allow_external=False, robot_webhook=None, actor="api:office",
                  now=world.now())
    values.update(fields)
    with world.sessions.begin() as session:
        return registry.register_group(session, world.settings, **values).id


def run_job(world, now):
    with world.sessions.begin() as session:
        return real_names.run_due(session, world.settings, world.calendar, now)


def snapshot(world):
    """Everything the job could change: violations, audit lines, outbox rows, members."""
    with world.sessions() as session:
        return (session.scalar(select(func.count()).select_from(Violation)),
                session.scalar(select(func.count()).select_from(AuditEntry)),
                session.scalar(select(func.count()).select_from(OutboxAction)),
                [(m.member_id, m.state, m.compliance) for m in session.scalars(
                    select(GroupMember).order_by(GroupMember.id))])


def test_r2_reminder_then_fixed_no_violation(world):
    t0 = world.now()
    group_id = register(world)
    push(world, world.state.groupchat_add_member(CHAT, "tony"))  # directory name "Tony"
    with world.sessions() as session:
        assert member(session, group_id, "tony").compliance == "bad_name"
        (text,) = texts_to(session, "tony")
        deadline = (t0 + timedelta(days=3)).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
        assert "实名提醒" in text and "通讯录姓名「Tony」" in text and deadline in text and "2-4 个汉字" in text
    push(world, world.state.user_update("tony", name="唐尼"))  # change_contact update_user: fixed
    with world.sessions() as session:
        assert member(session, group_id, "tony").compliance == "ok"
        assert session.scalar(select(AuditEntry).where(AuditEntry.action == "member.name_fixed")) is not None
    for days in (1, 4, 10):
        assert run_job(world, t0 + timedelta(days=days)) == real_names.Stats(0, 0)
    with world.sessions() as session:
        assert session.scalars(select(Violation)).all() == [] and len(texts_to(session, "tony")) == 1


def test_r2_nickname_fixed_seen_by_reconciliation_ends_grace(world):
    t0 = world.now()
    group_id = register(world)
    with world.sessions.begin() as session:
        group = session.get(Group, group_id)
        mali = membership.member_joined(session, world.settings, group, "mali", t0)  # 马丽
        membership.apply_member_info(session, world.settings, group, mali, {"group_nickname": "Molly"}, t0)
        assert mali.compliance == "bad_name"
        assert "群昵称「Molly」" in texts_to(session, "mali")[0]
    with world.sessions.begin() as session:  # groupchat/get now shows her real name
        group = session.get(Group, group_id)
        membership.apply_member_info(session, world.settings, group, member(session, group_id, "mali"),
                                     {"group_nickname": "马丽"}, t0 + timedelta(days=1))
    assert run_job(world, t0 + timedelta(days=5)) == real_names.Stats(0, 0)
    with world.sessions() as session:
        assert session.scalars(select(Violation)).all() == []


def test_r2_grace_expires_violation_once_never_removal(world):
    t0 = world.now()  # Monday 2026-03-02, working time
    group_id = register(world)
    push(world, world.state.groupchat_add_member(CHAT, "tony"))
    tuesday = t0 + timedelta(days=1)
    assert run_job(world, tuesday) == real_names.Stats(reminded=1)
    assert run_job(world, tuesday + timedelta(hours=1)) == real_names.Stats()  # once a day
    with world.sessions() as session:
        assert len(texts_to(session, "tony")) == 2
    after = t0 + timedelta(days=3, hours=1)
    assert run_job(world, after) == real_names.Stats(violations=1)
    before = snapshot(world)
    assert run_job(world, after) == real_names.Stats() and run_job(world, after + timedelta(hours=1)) == real_names.Stats()
    assert snapshot(world) == before  # the job twice changes nothing
    with world.sessions() as session:
        (violation,) = session.scalars(select(Violation)).all()
        assert (violation.rule, violation.userid, violation.group_id, violation.status, violation.detected_by) == (
            "R2", "tony", group_id, "open", "system")
        assert violation.evidence["reason"] == "bad_name"
        tony = member(session, group_id, "tony")
        assert (tony.state, tony.compliance) == ("present", "bad_name")  # never removed
        assert actions(session, "appchat/update") == [] and len(texts_to(session, "tony")) == 2  # no reminder after


def test_r2_per_group_pattern_overrides(world):
    t0 = world.now()
    plain = register(world, scope={"departments": [7]})
    dashed = register(world, chat_id=VIP, name="华南VIP客户群", owner="zhengming", scope={"departments": [7]})
    with world.sessions.begin() as session:
        session.get(Group, dashed).name_pattern = naming.DEPARTMENT_DASH_NAME
    with world.sessions.begin() as session:
        for group_id in (plain, dashed):  # directory name "销售-李"
            membership.member_joined(session, world.settings, session.get(Group, group_id), "xiaoshouli", t0)
    with world.sessions() as session:
        assert member(session, plain, "xiaoshouli").compliance == "bad_name"
        assert member(session, dashed, "xiaoshouli").compliance == "ok"
        (text,) = texts_to(session, "xiaoshouli")
        assert "华东客户交流群" in text and "华南VIP客户群" not in text
    assert run_job(world, t0 + timedelta(days=4)) == real_names.Stats(violations=1)
    with world.sessions() as session:
        assert [(v.rule, v.group_id) for v in session.scalars(select(Violation))] == [("R2", plain)]


def test_r2_grace_days_setting(world):
    import dataclasses

    world.settings = dataclasses.replace(world.settings, real_name_grace_days=0)
    t0 = world.now()
    register(world)
    push(world, world.state.groupchat_add_member(CHAT, "tony"))
    assert run_job(world, t0) == real_names.Stats(violations=1)


def test_r2_reminders_never_at_night_or_weekends(world):
    friday_night = datetime(2026, 3, 6, 21, 0, tzinfo=SHANGHAI)
    saturday = datetime(2026, 3, 7, 10, 0, tzinfo=SHANGHAI)
    monday = datetime(2026, 3, 9, 9, 0, tzinfo=SHANGHAI)
    group_id = register(world)
    with world.sessions.begin() as session:
        membership.member_joined(session, world.settings, session.get(Group, group_id), "tony", friday_night)
    assert run_job(world, saturday) == real_names.Stats()  # no reminder on a weekend day
    assert run_job(world, saturday + timedelta(days=1)) == real_names.Stats()
    for moment in (friday_night, saturday):
        outbox.send_due(world.sessions, world.client, world.settings, world.calendar, moment)
    with world.sessions() as session:
        (row,) = actions(session, "message/send")
        assert "tony" in row.payload["touser"] and row.hold and not row.urgent and row.status == "pending"
        assert monday <= row.not_before < monday + timedelta(minutes=30)  # held until working time (jittered)
    assert run_job(world, monday) == real_names.Stats(violations=0, reminded=1)


def test_r2_grace_days_setting_is_validated():
    import pytest

    from wecom_app.config import SettingsError, load_settings

    from tests.ops.test_settings import GOOD

    assert load_settings(dict(GOOD), env_file=None).real_name_grace_days == 3
    assert load_settings(dict(GOOD, REAL_NAME_GRACE_DAYS="0"), env_file=None).real_name_grace_days == 0
    for bad in ("-1", "three"):
        with pytest.raises(SettingsError, match="REAL_NAME_GRACE_DAYS"):
            load_settings(dict(GOOD, REAL_NAME_GRACE_DAYS=bad), env_file=None)


def test_r2_broken_again_while_violation_open_adds_nothing(world):
    t0 = world.now()
    group_id = register(world)
    push(world, world.state.groupchat_add_member(CHAT, "tony"))
    assert run_job(world, t0 + timedelta(days=4)).violations == 1
    with world.sessions.begin() as session:
        group, tony = session.get(Group, group_id), member(session, group_id, "tony")
        membership.apply_member_info(session, world.settings, group, tony, {"group_nickname": "唐尼"}, t0)
        session.get(membership.User, "tony").name = "唐尼"
        membership.review_member(session, world.settings, group, tony, t0 + timedelta(days=4, hours=1))
        assert tony.compliance == "ok"
        session.get(membership.User, "tony").name = "Tony"  # and back
        membership.review_member(session, world.settings, group, tony, t0 + timedelta(days=5))
        assert tony.compliance == "bad_name"
    assert run_job(world, t0 + timedelta(days=9)) == real_names.Stats()  # the R2 violation is still open
    before = snapshot(world)
    assert run_job(world, t0 + timedelta(days=9, hours=1)) == real_names.Stats() and snapshot(world) == before
    with world.sessions() as session:
        assert len(session.scalars(select(Violation)).all()) == 1


def test_r2_the_default_stays_2_to_4_chinese_characters_and_the_dash_form_is_an_option():
    import dataclasses

    from wecom_app.config import load_settings

    from tests.ops.test_settings import GOOD

    default = load_settings(dict(GOOD), env_file=None)
    either = load_settings(dict(GOOD, REAL_NAME_PATTERN="name-or-department-name"), env_file=None)
    only_dashed = dataclasses.replace(default, real_name_pattern="department-name")
    cases = {"张伟": (True, True, False), "欧阳娜娜": (True, True, False), "华东销售-朱霞": (False, True, True),
             "研发部-李娜": (False, True, True), "Tony": (False, False, False), "华东销售-": (False, False, False),
             "-朱霞": (False, False, False), "张伟-华东销售部": (False, False, False)}
    for name, expected in cases.items():
        got = tuple(naming.is_real_name(name, naming.real_name_pattern(s)) for s in (default, either, only_dashed))
        assert got == expected, name
    assert real_names.describe(naming.real_name_pattern(either)) == "2-4 个汉字的真实姓名，或「部门-姓名」格式（如 华东销售-朱霞）"
    assert real_names.describe(naming.real_name_pattern(default)) == "2-4 个汉字的真实姓名"
