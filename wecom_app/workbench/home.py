"""首页: the dashboard for admins and custodians (custodians see their own groups
only); employees go to 我的待办. Groups by compliance, open violations,
directives with their acknowledgment rate, outbox health (admins), and a warning
when WeCom has not taken messages for over 15 minutes (an outage: they are retried).
Two trend charts of the last 12 weeks (digest/figures.py `weekly_trend`, drawn as
inline SVG by wecom_app/workbench/charts.py): violations opened, and the acknowledgment rate of
the directives issued, per week."""

from __future__ import annotations

from flask import redirect, render_template, url_for
from sqlalchemy import func, select

from wecom_app.workbench import charts
from wecom_app.digest.figures import weekly_trend
from wecom_app.directives.queries import counts
from wecom_app.governance import group_size
from wecom_app.labels import GROUP_KINDS
from wecom_app.models import Directive, Group, GroupMember, OutboxAction, Violation
from wecom_app.wecom.outbox import waiting
from wecom_app.workbench.access import current_user, login_required
from wecom_app.workbench.blueprint import bp, runtime


@bp.get("/")
@login_required
def home():
    viewer = current_user()
    if not viewer.has("admin", "custodian"):
        return redirect(url_for("workbench.me"))
    rt = runtime()
    mine = None if viewer.is_admin else viewer.custodian_of
    with rt.sessions() as db:
        data = dict(
            group_counts=_group_counts(db, mine),
            noncompliant=_noncompliant_groups(db, mine),
            problems=_group_problems(db, mine),
            open_violations=_open_violations(db, mine),
            directives=_directive_rates(db, mine),
            outbox=_outbox_health(db) if viewer.is_admin else None,
            outbox_waiting=waiting(db, rt.clock()),  # WeCom unreachable for 15 min: everyone who sends should know
            trends=_trend_charts(weekly_trend(db, rt.settings, rt.clock(), mine=mine)),
        )
    return render_template("workbench/home.html", kind_names=GROUP_KINDS, **data)


def _trend_charts(weeks) -> list:
    def label(week) -> str:
        return f"{week.start.month}/{week.start.day}"

    violations = [charts.Point(label(w), w.violations, str(w.violations)) for w in weeks]
    rates = [charts.Point(label(w), None if w.ack_rate is None else round(100 * w.ack_rate),
                          "无指令" if w.ack_rate is None else f"{round(100 * w.ack_rate)}%") for w in weeks]
    return [charts.bars(violations, title="每周新增违规（近 12 周）", unit="新增违规", ident="trend-violations"),
            charts.bars(rates, title="每周指令签收率（按下达周，近 12 周）", unit="签收率", ident="trend-ack",
                        maximum=100)]


def _scoped(stmt, column, mine):
    return stmt if mine is None else stmt.where(column.in_(mine or [-1]))


def _group_counts(db, mine):
    stmt = _scoped(select(Group.kind, Group.status, func.count()).group_by(Group.kind, Group.status), Group.id, mine)
    return [dict(kind=k, status=s, count=n) for k, s, n in db.execute(stmt.order_by(Group.kind, Group.status))]


def _noncompliant_groups(db, mine, limit: int = 20):
    bad = (GroupMember.state == "present") & GroupMember.compliance.notin_(("ok", "unknown"))
    stmt = (select(Group.id, Group.name, Group.kind, func.count(GroupMember.id))
            .join(GroupMember, GroupMember.group_id == Group.id).where(bad)
            .group_by(Group.id, Group.name, Group.kind).order_by(func.count(GroupMember.id).desc(), Group.id))
    return db.execute(_scoped(stmt, Group.id, mine).limit(limit)).all()


def _group_problems(db, mine, limit: int = 20):
    """Groups with an open problem (group_size.py: people left out of a full group, or 86006)."""
    waiting = (select(func.count()).where(GroupMember.group_id == Group.id, GroupMember.state == group_size.LEFT_OUT)
               .scalar_subquery())
    stmt = select(Group.id, Group.name, Group.problem_detail, waiting).where(Group.problem.is_not(None)).order_by(Group.id)
    rows = db.execute(_scoped(stmt, Group.id, mine).limit(limit)).all()
    return [dict(id=i, name=name, errcode=(detail or {}).get("errcode"), left_out=n) for i, name, detail, n in rows]


def _open_violations(db, mine) -> int:
    stmt = _scoped(select(func.count()).select_from(Violation).where(Violation.status == "open"),
                   Violation.group_id, mine)
    return db.scalar(stmt) or 0


def _directive_rates(db, mine, limit: int = 10):
    """The latest active directives (custodians: those sent to one of their groups) with rates."""
    directives = db.scalars(select(Directive).where(Directive.status == "active")
                            .order_by(Directive.id.desc()).limit(limit if mine is None else 200)).all()
    if mine is not None:
        directives = [d for d in directives if mine.intersection((d.assignees or {}).get("groups") or [])][:limit]
    rows = []
    for d, c in zip(directives, map(counts(db, directives).get, (d.id for d in directives))):
        done = c["acknowledged"]  # acknowledged or completed (完成 acknowledges too)
        rate = round(100 * done / c["total"]) if c["total"] else 0
        rows.append(dict(directive=d, total=c["total"], done=done, rate=rate))
    return rows


def _outbox_health(db):
    pending = (OutboxAction.status.in_(("pending", "sending")))
    return dict(
        pending=db.scalar(select(func.count()).where(pending)) or 0,
        failed=db.scalar(select(func.count()).where(OutboxAction.status == "failed")) or 0,
        oldest_due=db.scalar(select(func.min(OutboxAction.not_before)).where(pending)),
    )
