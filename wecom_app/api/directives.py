"""`/api/v1/directives` (R16, 第十一条; DESIGN §3).

- `POST /directives` (admin, issuer) `{title, body, assignees: {users, departments,
  groups}, deadline: ISO-8601 with an offset, require?: "ack"|"completion", urgent?,
  confidential?, summary_group?: id of an active managed group, issuer?: userid}`
  → `201` with the directive at the top level. `issuer` defaults to `api:<token
  name>`; an admin may name any active employee, an issuer token only its own
  userid (which is also its default).
- `GET /directives` (admin, readonly, issuer): newest first, paginated, filters
  `status` (active, revoked) and `issuer`, each with its receipt counts.
- `GET /directives/{id}`: the directive, its counts by status, the acknowledgment
  (and completion) rate and its `receipts` ordered by userid. A directive can
  have 100,000 receipts, so they are paginated: `?page=&per_page=` apply to the
  receipts, and `receipts_page` carries `page`, `per_page`, `total` and `next`.
- `POST /directives/{id}/revoke` `{reason}`; `POST /directives/{id}/corrections`
  `{title?, body?, note?}` → `201` with the new version (admin, or the issuer
  token that issued it). Acting on a revoked directive is a `409`.
- `GET /directives/{id}/receipts.pdf` and `.xlsx`: the receipt sheet (签收单,
  directives/receipt_sheet.py) as a download, for whoever may read the directive.

An issuer token sees and acts on its own directives only; another one is a 404.
`title` is at most 128 and `body` at most 2,048 bytes in UTF-8 (what WeCom takes whole,
textlimits.py): over it is a 422 naming the field and the limit.
Times are ISO-8601 in UTC (`+00:00`), as everywhere in the API; the workbench and
the cards show them in the company time zone.
`directives.*` judges meaning and raises DirectiveError (422 on its field, 404
for an unknown id); the directive, its receipts, its outbox rows, the ledger and
the audit entries share the request's one transaction, so a refusal leaves nothing.
"""

from __future__ import annotations

from datetime import datetime, timezone

from flask import Response, request, url_for
from sqlalchemy import select

from wecom_app.api.auth import caller, require, runtime
from wecom_app.api.blueprint import bp, json_body, paginate
from wecom_app.api.errors import ApiError
from wecom_app.api.validate import (
    USERID,
    Boolean,
    DateTime,
    Integer,
    Invalid,
    ListOf,
    Object,
    OneOf,
    String,
    optional,
    validate,
)
from wecom_app.audit import audit
from wecom_app.directives import issue as directives
from wecom_app.directives.queries import counts
from wecom_app.directives import receipt_sheet as sheets
from wecom_app.models import Directive, DirectiveReceipt, DirectiveVersion, User
from wecom_app.models.directives import DIRECTIVE_STATUSES, REQUIRES

READERS = ("admin", "readonly", "issuer")
WRITERS = ("admin", "issuer")

ASSIGNEES = Object(
    users=optional(ListOf(USERID, max_items=directives.MAX_ASSIGNEES), default=list),
    departments=optional(ListOf(Integer(minimum=1)), default=list),  # with their sub-departments
    groups=optional(ListOf(Integer(minimum=1)), default=list),  # the groups' employee members
)
CREATE = Object(
    title=String(directives.TITLE_MAX, max_bytes=directives.TITLE_BYTES),
    body=String(directives.BODY_MAX, multiline=True, max_bytes=directives.BODY_BYTES),
    assignees=ASSIGNEES,
    deadline=DateTime(),
    require=optional(OneOf(*REQUIRES), default="ack"),
    urgent=optional(Boolean(), default=False),
    confidential=optional(Boolean(), default=False),
    summary_group=optional(Integer(minimum=1)),
    issuer=optional(USERID),
)
REVOKE = Object(reason=String(500, multiline=True))
CORRECT = Object(
    title=optional(String(directives.TITLE_MAX, max_bytes=directives.TITLE_BYTES)),
    body=optional(String(directives.BODY_MAX, multiline=True, max_bytes=directives.BODY_BYTES)),
    note=optional(String(500, multiline=True), default=""),
)
ISSUER_FILTER = String(80, lower=True, pattern=r"[a-z0-9_.@:-]+",
                       pattern_message="must be a userid or api:<token name>")


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(timezone.utc).isoformat()


def _refused(exc: directives.DirectiveError):
    if exc.missing:
        return ApiError(404, exc.message)
    if exc.field == "status":  # revoked already: the request conflicts with the directive's state
        return ApiError(409, exc.message, field="status")
    return Invalid.at(exc.field, exc.message)


# -- reading ------------------------------------------------------------------------------------


def _mine(query):
    """An issuer token sees the directives it issued (as its userid or as itself)."""
    if caller().role == "issuer":
        query = query.where(Directive.issuer.in_([i for i in (caller().userid, caller().actor) if i]))
    return query


def _visible(session, directive_id: int) -> Directive:
    directive = session.scalar(_mine(select(Directive).where(Directive.id == directive_id)))
    if directive is None:
        raise ApiError(404, f"no directive {directive_id}")
    return directive


def summary(directive: Directive, counted: dict) -> dict:
    return {
        "id": directive.id, "version": directive.version, "title": directive.title, "body": directive.body,
        "content_hash": directive.content_hash, "issuer": directive.issuer, "require": directive.require,
        "urgent": directive.urgent, "confidential": directive.confidential, "deadline": _time(directive.deadline),
        "assignees": directive.assignees, "summary_group": directive.summary_group_id, "status": directive.status,
        "created_at": _time(directive.created_at), "revoked_at": _time(directive.revoked_at),
        "revoked_by": directive.revoked_by, "revoke_reason": directive.revoke_reason or None,
        "escalated_at": _time(directive.escalated_at),
        "counts": {**counted["by_status"], "total": counted["total"]},
        "ack_rate": counted["ack_rate"], "completion_rate": counted["completion_rate"],
    }


def receipt_view(directive: Directive, receipt: DirectiveReceipt, names: dict[str, str]) -> dict:
    return {
        "userid": receipt.userid, "name": names.get(receipt.userid),
        "status": directives.receipt_status(directive, receipt),
        "version": receipt.version, "delivered_at": _time(receipt.delivered_at), "msgid": receipt.msgid,
        "undeliverable": receipt.undeliverable, "acknowledged_at": _time(receipt.acknowledged_at),
        "ack_channel": receipt.ack_channel, "completed_at": _time(receipt.completed_at),
        "complete_channel": receipt.complete_channel, "reminders": receipt.reminders,
        "last_reminded_at": _time(receipt.last_reminded_at), "overdue_at": _time(receipt.overdue_at),
    }


def detail(session, directive: Directive) -> dict:
    body = summary(directive, counts(session, [directive])[directive.id])
    body["versions"] = [
        {"version": v.version, "title": v.title, "content_hash": v.content_hash, "note": v.note,
         "created_by": v.created_by, "created_at": _time(v.created_at)}
        for v in session.scalars(select(DirectiveVersion).where(DirectiveVersion.directive_id == directive.id)
                                 .order_by(DirectiveVersion.version))]
    r = DirectiveReceipt
    query = select(r).where(r.directive_id == directive.id).order_by(r.userid)
    page = paginate(session, query, "api.get_directive", lambda row: row, directive_id=directive.id)
    userids = [row.userid for row in page["items"]]
    names = dict(session.execute(select(User.userid, User.name).where(User.userid.in_(userids))).all())
    body["receipts"] = [receipt_view(directive, row, names) for row in page.pop("items")]
    body["receipts_page"] = page
    return body


@bp.get("/directives")
@require(*READERS)
def list_directives():
    status = request.args.get("status") or None
    status = None if status is None else OneOf(*DIRECTIVE_STATUSES).clean(status, "status")
    issuer = request.args.get("issuer") or None
    issuer = None if issuer is None else ISSUER_FILTER.clean(issuer, "issuer")
    query = _mine(select(Directive).order_by(Directive.id.desc()))
    for column, value in ((Directive.status, status), (Directive.issuer, issuer)):
        if value is not None:
            query = query.where(column == value)
    with runtime().sessions() as session:
        page = paginate(session, query, "api.list_directives", lambda d: d, status=status, issuer=issuer)
        counted = counts(session, page["items"])
        page["items"] = [summary(d, counted[d.id]) for d in page["items"]]
        return page


@bp.get("/directives/<int:directive_id>")
@require(*READERS)
def get_directive(directive_id: int):
    with runtime().sessions() as session:
        return detail(session, _visible(session, directive_id))


@bp.get("/directives/<int:directive_id>/receipts.<any(pdf, xlsx):fmt>")
@require(*READERS)
def receipt_sheet(directive_id: int, fmt: str):
    """The 签收单 (directives/receipt_sheet.py) as a download, for whoever may read the directive."""
    rt = runtime()
    with rt.sessions() as session:
        _visible(session, directive_id)
        make = sheets.receipt_pdf if fmt == "pdf" else sheets.receipt_xlsx
        data = make(session, rt.settings, directive_id, now=rt.clock())
    name = f"directive-{directive_id}-receipts.{fmt}"
    return Response(data, mimetype=sheets.SHEET_TYPES[fmt], headers={"Content-Disposition": f'attachment; filename="{name}"'})


# -- issuing, correcting, revoking ------------------------------------------------------------------


def _issuer(session, wanted: str | None) -> str:
    me = caller()
    if me.role == "issuer" and me.userid:
        if wanted not in (None, me.userid):
            raise ApiError(403, f"an issuer token issues in its own name ({me.userid}) only", field="issuer")
        wanted = me.userid
    elif me.role == "issuer" and wanted is not None:
        raise ApiError(403, "this issuer token is bound to no userid: it issues as itself only", field="issuer")
    if wanted is None:
        return me.actor
    if session.scalar(select(User.status).where(User.userid == wanted)) != directives.STATUS_ACTIVE:
        raise Invalid.at("issuer", "must be an active employee in the directory")
    return wanted


@bp.post("/directives")
@require(*WRITERS)
def create_directive():
    data = validate(CREATE, json_body())
    rt = runtime()
    now = rt.clock()
    try:
        with rt.sessions.begin() as session:
            issuer, summary_group = _issuer(session, data.pop("issuer")), data.pop("summary_group")
            directive = directives.issue(session, rt.settings, **data, summary_group_id=summary_group, issuer=issuer,
                                         now=now)
            if issuer != caller().actor:  # the ledger and audit name the issuer; keep who sent it here
                audit(session, caller().actor, "directive.issue.on_behalf", f"directive:{directive.id}", now=now,
                      issuer=issuer)
            session.flush()
            body = detail(session, directive)
    except directives.DirectiveError as exc:
        raise _refused(exc) from None
    return body, 201, {"Location": url_for("api.get_directive", directive_id=body["id"])}


def _writable(session, directive_id: int) -> Directive:
    return _visible(session, directive_id)  # as for reading: an issuer's ids of others cannot be probed


@bp.post("/directives/<int:directive_id>/revoke")
@require(*WRITERS)
def revoke_directive(directive_id: int):
    data = validate(REVOKE, json_body())
    rt = runtime()
    try:
        with rt.sessions.begin() as session:
            directive = directives.revoke(session, rt.settings, _writable(session, directive_id), actor=caller().actor,
                                          reason=data["reason"], now=rt.clock())
            session.flush()
            return detail(session, directive)
    except directives.DirectiveError as exc:
        raise _refused(exc) from None


@bp.post("/directives/<int:directive_id>/corrections")
@require(*WRITERS)
def correct_directive(directive_id: int):
    data = validate(CORRECT, json_body())
    rt = runtime()
    try:
        with rt.sessions.begin() as session:
            directive = directives.correct(session, rt.settings, _writable(session, directive_id), title=data["title"],
                                           body=data["body"], note=data["note"], actor=caller().actor, now=rt.clock())
            session.flush()
            body = detail(session, directive)
    except directives.DirectiveError as exc:
        raise _refused(exc) from None
    return body, 201, {"Location": url_for("api.get_directive", directive_id=directive_id)}

