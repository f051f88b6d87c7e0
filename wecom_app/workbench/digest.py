"""汇报 (/digest, R6): the weekly and monthly digest as the office and the leaders
who get its card see it, and the same digest as a PDF. For office admins and the
leaders in DIGEST_LEADERS; the card sent by the digest job opens
/digest/<weekly|monthly>/<period>. A period still under way shows its figures so far."""

from __future__ import annotations

from flask import Response, abort, render_template

from wecom_app.digest import period as periods
from wecom_app.digest.figures import compute
from wecom_app.digest.pdf import digest_pdf
from wecom_app.digest.send import percent
from wecom_app.labels import GROUP_KINDS, REQUIRES, RULE_NAMES, VIOLATION_STATUSES
from wecom_app.workbench.access import current_user, forbidden, login_required
from wecom_app.workbench.blueprint import bp, runtime

REFUSED = "汇报只给办公室管理员和配置的领导（DIGEST_LEADERS）查看。"


def _may_read() -> bool:
    viewer = current_user()
    return viewer.is_admin or viewer.userid in runtime().settings.digest_leaders


def _period(kind: str, key: str) -> periods.Period:
    try:
        period = periods.parse(kind, key)
    except ValueError:
        abort(404)
    if period.start > runtime().clock().astimezone(runtime().settings.tz).date():
        abort(404)  # nothing has happened in it yet
    return period


@bp.get("/digest")
@login_required
def digest_latest():
    """The latest complete week's digest (the navigation's 汇报)."""
    rt = runtime()
    return digest_page("weekly", periods.last_complete("weekly", rt.clock(), rt.settings.tz).key)


@bp.get("/digest/<kind>/<key>")
@login_required
def digest_page(kind: str, key: str):
    if not _may_read():
        return forbidden("admin", reason=REFUSED)
    period = _period(kind, key)
    rt = runtime()
    now = rt.clock()
    with rt.sessions() as db:
        digest = compute(db, rt.settings, period, now)
    today = now.astimezone(rt.settings.tz).date()
    following = periods.containing(kind, period.end)
    other = "monthly" if kind == "weekly" else "weekly"
    return render_template(
        "workbench/digest.html", digest=digest, period=period, percent=percent, kind_names=GROUP_KINDS,
        rule_names=RULE_NAMES, require_names=REQUIRES, decided_names=VIOLATION_STATUSES,
        under_way=period.end > today, previous=period.previous(),
        following=following if following.start <= today else None,
        other=periods.last_complete(other, now, rt.settings.tz), other_word=periods.KIND_WORDS[other])


@bp.get("/digest/<kind>/<key>.pdf")
@login_required
def digest_pdf_file(kind: str, key: str):
    if not _may_read():
        return forbidden("admin", reason=REFUSED)
    period = _period(kind, key)
    rt = runtime()
    with rt.sessions() as db:
        data = digest_pdf(rt.settings, compute(db, rt.settings, period, rt.clock()))
    filename = f"digest-{period.key}.pdf"
    return Response(data, mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
