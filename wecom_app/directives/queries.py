"""Read-side queries on directives that both faces use: the REST API (api/directives.py)
and the workbench (home, groups, directives pages). A face imports these from here,
never from the other face."""

from __future__ import annotations

from sqlalchemy import case, func, select

from wecom_app.models import Directive, DirectiveReceipt

COUNTED = ("queued", "delivered", "undeliverable", "acknowledged", "completed", "overdue")


def counts(session, found: list[Directive]) -> dict[int, dict]:
    """Receipts per directive by API status, with the acknowledgment (and completion) rate."""
    if not found:
        return {}
    r, d = DirectiveReceipt, Directive
    done = case((d.require == "completion", r.completed_at), else_=r.acknowledged_at)
    overdue = (r.overdue_at.is_not(None)) & done.is_(None)
    # grouped outside a subquery: PostgreSQL would see two CASEs with different bound literals
    inner = (select(r.directive_id, case((overdue, "overdue"), else_=r.status).label("api_status"), r.acknowledged_at,
                    r.completed_at)
             .join(d, d.id == r.directive_id).where(r.directive_id.in_([x.id for x in found])).subquery())
    rows = session.execute(
        select(inner.c.directive_id, inner.c.api_status, func.count(), func.count(inner.c.acknowledged_at),
               func.count(inner.c.completed_at)).group_by(inner.c.directive_id, inner.c.api_status)).all()
    out = {x.id: {"by_status": dict.fromkeys(COUNTED, 0), "total": 0, "acknowledged": 0, "completed": 0}
           for x in found}
    for directive_id, status, n, acked, completed in rows:
        c = out[directive_id]
        c["by_status"][status] = c["by_status"].get(status, 0) + n
        c["total"] += n
        c["acknowledged"] += acked
        c["completed"] += completed
    for x in found:
        c = out[x.id]
        c["ack_rate"] = round(c["acknowledged"] / c["total"], 4) if c["total"] else None
        c["completion_rate"] = (round(c["completed"] / c["total"], 4) if c["total"] else None) \
            if x.require == "completion" else None
    return out
