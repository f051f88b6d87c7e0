"""The sandbox's demo data (wecom_app/sandbox/demo.py): made through the app's own
paths, it gives every role something on the workbench — a custodian, groups with
non-compliant members, directives, a report."""

from sqlalchemy import func, select

from wecom_app.directory.full_sync import full_sync
from wecom_app.models import Directive, DirectiveReceipt, Group, User, Violation
from wecom_app.sandbox.demo import seed_demo_data
from wecom_app.scheduler import run_job
from wecom_app.workbench.access import roles_of


def test_sandbox_demo_data_gives_each_role_something_to_see(sandbox):
    app, runtime, state = sandbox
    full_sync(runtime.sessions, runtime.client, runtime.clock())
    made = seed_demo_data(runtime, state, app.extensions["wecom_pusher"])
    assert len(made) == 5
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
