"""The sandbox's demo data (wecom_app/sandbox/demo.py): made through the app's own
paths, it gives every role something on the workbench — a custodian, groups with
non-compliant members, directives, a report."""

from sqlalchemy import func, select

from wecom_app.directory.full_sync import full_sync
from wecom_app.models import ArchivedMessage, ArchiveTally, Directive, DirectiveReceipt, Group, GroupMember, InstructionOffer, User, Violation
from wecom_app.governance.registry import register_group
from wecom_app.sandbox.demo import seed_demo_data
from wecom_app.sandbox.seed import ADMIN_ROOM, CLASSIFIED, INSTRUCTION, RD_ROOM
from wecom_app.scheduler import run_job
from wecom_app.workbench.access import roles_of


def test_sandbox_demo_data_gives_each_role_something_to_see(sandbox):
    app, runtime, state = sandbox
    full_sync(runtime.sessions, runtime.client, runtime.clock())
    made = seed_demo_data(runtime, state, app.extensions["wecom_pusher"])
    assert len(made) == 6  # the archive's line too: the sandbox turns it on
    run_job("inbox", runtime)
    run_job("outbox", runtime)
    with runtime.sessions() as session:
        groups = {g.name: g for g in session.scalars(select(Group).where(Group.registered_at.is_not(None)
                                                                         | (Group.kind == "managed")))}
        custodian = roles_of(session, runtime.settings, session.get(User, "xuchao"))
        issuer = roles_of(session, runtime.settings, session.get(User, "caoyang"))
        directives = session.scalars(select(Directive).order_by(Directive.id)).all()
        receipts = session.scalar(select(func.count()).select_from(DirectiveReceipt))
        reports = session.scalars(select(Violation.detected_by)).all()
    assert groups["行政部工作群"].status == "active" and groups["行政部工作群"].chat_id in state.appchats
    assert {"华东客户交流群", "售后服务群"} <= set(groups)
    assert custodian.has("custodian") and len(custodian.custodian_of) == 2
    assert issuer.has("issuer")
    assert [d.issuer for d in directives] == ["zhangwei", "caoyang"] and directives[1].confidential
    assert receipts > 10
    assert "report:zhuxia" in reports


def test_r11_r12_r4_r16_the_sandbox_archive_demo_shows_its_groups_violations_and_offer_after_one_archive_run(sandbox):
    app, runtime, state = sandbox
    assert runtime.settings.archive_enabled and runtime.settings.finance_sdk == "emulator"
    full_sync(runtime.sessions, runtime.client, runtime.clock())
    seed_demo_data(runtime, state, app.extensions["wecom_pusher"])
    run_job("archive", runtime)
    with runtime.sessions() as session:
        groups = {g.chat_id: g for g in session.scalars(select(Group).where(Group.kind == "internal"))}
        rd, admin = groups[RD_ROOM[0]], groups[ADMIN_ROOM[0]]
        found = session.execute(select(Violation.rule, Violation.userid, Violation.group_id, Violation.detected_by)
                                .order_by(Violation.id)).all()
        out_of_scope = session.scalar(select(GroupMember).where(GroupMember.group_id == rd.id,
                                                                GroupMember.member_id == "xuchao"))
        texts = session.scalars(select(ArchivedMessage.content).where(ArchivedMessage.roomid == RD_ROOM[0])).all()
        late = session.scalar(select(ArchiveTally.off_hours).where(ArchiveTally.roomid == RD_ROOM[0],
                                                                   ArchiveTally.userid == "zenglin", ArchiveTally.off_hours > 0))
        offers = session.execute(select(InstructionOffer.sender, InstructionOffer.group_id, InstructionOffer.mention_all,
                                        InstructionOffer.status)).all()
    assert (rd.status, rd.custodian) == ("active", "caoyang")
    assert (admin.status, admin.name) == ("discovered", "行政部-日常沟通")  # for the newcomer to register
    assert out_of_scope.compliance == "out_of_scope"
    assert ("R11", "xuchao", rd.id, "system") in found
    assert ("R12", "pengfei", rd.id, "archive") in found  # the classified project name
    assert not [f for f in found if f[1] == "zenglin"] and late == 1  # late-night work talk is counted, not a violation
    assert INSTRUCTION in texts and any(CLASSIFIED in t for t in texts if t)
    assert offers == [("caoyang", rd.id, True, "offered")]  # R16: the leader's @所有人 offered to track, once
    with runtime.sessions.begin() as session:  # the newcomer registers the discovered group (scope 行政部)
        register_group(session, runtime.settings, kind="internal", chat_id=ADMIN_ROOM[0], name=ADMIN_ROOM[1],
                       owner="wangfang", custodian="lina", scope={"departments": [3]}, allow_external=False,
                       robot_webhook=None, actor="zhangwei", now=runtime.clock())
    run_job("archive", runtime)  # its stored messages are judged now
    with runtime.sessions() as session:
        found = session.execute(select(Violation.rule, Violation.userid).where(Violation.group_id == admin.id)
                                .order_by(Violation.id)).all()
    assert set(found) == {("R11", "yangmin"), ("R12", "yangmin")}
