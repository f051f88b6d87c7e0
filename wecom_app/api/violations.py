"""`/api/v1/violations` and `/api/v1/assessments` (R6, R15; DESIGN §3).

- `GET /violations` (admin, readonly: all; custodian: their groups' violations),
  filters `group`, `userid`, `rule`, `status`, paginated.
- `GET /violations/{id}`; another custodian's violation is a 404.
- `POST /violations/{id}/decision` `{decision: "confirm"|"dismiss", text?}` (admin,
  or the custodian of the violation's group; another custodian gets 403). A
  confirmation applies the next sanctions step (WeCom has no mute API, so the
  ladder is warning → temporary removal → removal) and writes the assessment.
- `POST /violations` `{rule, userid, group?, note?}` (admin, or a custodian for their own
  group): a violation the custodian saw themselves (`detected_by` `custodian:<userid>`,
  or `api:<token>` for an admin) → `201`; the same open (rule, userid, group) → `200`.
- `POST /accounts/{userid}/suspend` and `/restore` (admin; R14): suspend someone whose
  account is reported lost by phone, and restore them once their identity is checked.
- `GET /assessments?month=YYYY-MM` (admin, readonly): per department and person;
  `GET /assessments.xlsx?month=YYYY-MM` the same as a workbook.
"""

from __future__ import annotations

from flask import Response, request, url_for
from sqlalchemy import select

from wecom_app.api.auth import caller, require, runtime
from wecom_app.api.blueprint import bp, json_body, paginate
from wecom_app.api.errors import ApiError
from wecom_app.api.validate import USERID, Integer, Invalid, Object, OneOf, String, optional, validate
from wecom_app.inputs import bounded_int
from wecom_app.models import Group, User, Violation
from wecom_app.violations import assessments
from wecom_app.violations import decisions
from wecom_app.violations import records as violations
from wecom_app.violations import sanctions as violations_sanctions
from wecom_app.violations.records import STATUSES

READERS = ("admin", "readonly", "custodian")
RULE = String(8, pattern=r"R\d{1,2}", pattern_message="must be a rule id such as R3")
DECISION = Object(
    decision=OneOf(*decisions.DECISIONS),
    text=optional(String(500, multiline=True), default=""),
)
REPORT = Object(
    rule=OneOf(*violations.RULES),
    userid=USERID,
    group=optional(Integer(minimum=1)),
    note=optional(String(500, multiline=True), default=""),
)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _arg(name: str, kind):
    raw = request.args.get(name)
    return None if raw in (None, "") else kind.clean(raw, name)


def _group_arg():
    raw = request.args.get("group")
    if raw in (None, ""):
        return None
    group = bounded_int(raw, minimum=1)
    if group is None:  # ASCII digits within the id column's range only ("²".isdigit() is True)
        raise Invalid.at("group", "must be a group id (an integer)")
    return group


def _mine(query):
    """A custodian sees only the violations in the groups they look after."""
    if caller().role == "custodian":
        query = query.where(Violation.group_id.in_(select(Group.id).where(Group.custodian == caller().userid)))
    return query


@bp.get("/violations")
@require(*READERS)
def list_violations():
    group, userid = _group_arg(), _arg("userid", USERID)
    rule, status = _arg("rule", RULE), _arg("status", OneOf(*STATUSES))
    query = _mine(select(Violation).order_by(Violation.id.desc()))
    for column, value in ((Violation.group_id, group), (Violation.userid, userid), (Violation.rule, rule),
                          (Violation.status, status)):
        if value is not None:
            query = query.where(column == value)
    with runtime().sessions() as session:
        return paginate(session, query, "api.list_violations", violations.view, group=group, userid=userid,
                        rule=rule, status=status)


@bp.get("/violations/<int:violation_id>")
@require(*READERS)
def get_violation(violation_id: int):
    with runtime().sessions() as session:
        violation = session.scalar(_mine(select(Violation).where(Violation.id == violation_id)))
        if violation is None:
            raise ApiError(404, f"no violation {violation_id}")
        return violations.view(violation)


@bp.post("/violations/<int:violation_id>/decision")
@require("admin", "custodian")
def decide_violation(violation_id: int):
    data = validate(DECISION, json_body())
    rt = runtime()
    with rt.sessions.begin() as session:
        violation = session.get(Violation, violation_id)
        if violation is None:
            raise ApiError(404, f"no violation {violation_id}")
        actor = caller().actor
        if caller().role == "custodian":
            group = session.get(Group, violation.group_id) if violation.group_id else None
            if group is None or group.custodian != caller().userid:
                raise ApiError(403, "only the custodian of the violation's group or an admin may decide it")
            actor = f"custodian:{caller().userid}"
        try:
            violation = decisions.decide(session, rt.settings, violation_id, data["decision"], actor, rt.clock(),
                                          data["text"])
        except decisions.DecisionError as exc:
            raise ApiError(409, exc.message, field=exc.field) from None
        session.flush()
        return violations.view(violation)


@bp.post("/violations")
@require("admin", "custodian")
def report_violation():
    data = validate(REPORT, json_body())
    rt = runtime()
    with rt.sessions.begin() as session:
        group = session.get(Group, data["group"]) if data["group"] else None
        if data["group"] and group is None:
            raise Invalid.at("group", f"no group {data['group']}")
        if session.get(User, data["userid"]) is None:
            raise Invalid.at("userid", "is not a user in the directory")
        detected_by = caller().actor
        if caller().role == "custodian":
            if group is None or group.custodian != caller().userid:
                raise ApiError(403, "a custodian may report only in a group they look after", field="group")
            detected_by = f"custodian:{caller().userid}"
        violation, new = violations.open_violation(
            session, data["rule"], data["userid"], data["group"], evidence={"reason": data["note"]},
            detected_by=detected_by, now=rt.clock())
        session.flush()
        body = violations.view(violation)
    return body, 201 if new else 200, {"Location": url_for("api.get_violation", violation_id=body["id"])}


@bp.post("/accounts/<userid>/<any(suspend, restore):action>")
@require("admin")
def account_action(userid: str, action: str):
    userid = USERID.clean(userid, "userid")
    rt = runtime()
    with rt.sessions.begin() as session:
        if session.get(User, userid) is None:
            raise ApiError(404, f"no user {userid}")
        if action == "suspend":
            groups = violations_sanctions.suspend_account(session, rt.settings, userid, rt.clock(),
                                                          reported_by=caller().actor)
        else:
            groups = violations_sanctions.restore_account(session, rt.settings, userid, caller().actor, rt.clock())
    return {"userid": userid, "action": action, "groups": groups}


def _month() -> str:
    month = request.args.get("month") or ""
    if not assessments.MONTH.fullmatch(month):
        raise Invalid.at("month", "must be a month as YYYY-MM")
    return month


@bp.get("/assessments")
@require("admin", "readonly")
def list_assessments():
    month = _month()
    with runtime().sessions() as session:
        return assessments.month_report(session, month)


@bp.get("/assessments.xlsx")
@require("admin", "readonly")
def export_assessments():
    month = _month()
    with runtime().sessions() as session:
        body = assessments.month_xlsx(session, month, tz=runtime().settings.tz)
    return Response(body, mimetype=XLSX,
                    headers={"Content-Disposition": f'attachment; filename="assessments-{month}.xlsx"'})
