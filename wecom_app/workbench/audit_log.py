"""审计: the audit log (R6, R15), newest first, for admins, in words (issue 13 item 7).

Each entry reads as the office would say it: the action's Chinese words (labels.ACTIONS; the
code stays in a tooltip and the CSV), people as 「曹阳（caoyang）」, groups and directives by
name, detail keys in Chinese, times in the company's time zone.

Filters: a person (the one who acted, or the one acted on: `user:<id>` targets and a
`userid` in the details; picked by name like everywhere else), a group (its number or
name: the `group:<id>` target and a `group`/`group_id` in the details), the actor, an
action prefix (`group.` also finds what the workbench wrote as `workbench.group.*`), a
target prefix, and a date range in the company's time zone.

`/audit.csv` is the filtered rows as CSV (UTF-8 with a BOM so Excel reads the Chinese;
a cell that a spreadsheet would take for a formula is neutralised by `xlsx.cell`), read
from the database a page at a time and streamed, audited itself (`audit.export`).

Details are shown as `key: value` lines; a key that names a secret (token, secret, AES
key, password, a robot webhook) is never shown, whatever wrote it.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, time, timedelta, timezone

from flask import Response, render_template, request, stream_with_context
from flask_wtf import FlaskForm
from sqlalchemy import and_, func, or_, select
from wtforms import StringField
from wtforms.validators import Length, ValidationError

from wecom_app import xlsx
from wecom_app.directory import people as directory_people
from wecom_app.labels import (ACTORS, CHANNELS, COMPLIANCE, DETAIL_KEYS, GROUP_KINDS, MEMBER_STATES, ROLE_NAMES,
                              SANCTIONS, action_label, person, rule_label)
from wecom_app.models import AuditEntry, Directive, Group, User
from wecom_app.workbench.access import audit_action, roles_required
from wecom_app.workbench.blueprint import bp, runtime
from wecom_app.workbench.forms import DayField
from wecom_app.workbench.paging import paginate
from wecom_app.workbench.people import PeopleField

PER_PAGE = 30
CSV_BATCH = 1000  # rows read per query while the CSV streams
SECRET_KEYS = re.compile(r"secret|token|passw|aes|signature|webhook|robot|cookie|credential|private", re.I)
# a secret inside a value under a harmless key: a URL's access_token=, a robot webhook's key=
SECRET_PARAMS = re.compile(r"((?:access_token|corpsecret|secret|token|key)=)[^&\s\"']+", re.I)
VALUE_MAX = 300
# quick filters: the action families the app writes
FAMILIES = (("group.", "群"), ("member.", "成员"), ("directive.", "指令"), ("violation.", "违规"),
            ("sanction.", "处罚"), ("announcement.", "公告"), ("calendar.", "日历"), ("assessment.", "考核"),
            ("workbench.login", "登录"))
# what a target's kind is called (`group:12` → 群「…」)
TARGETS = {"user": "成员", "group": "群", "directive": "指令", "violation": "违规", "announcement": "公告",
           "day": "日期", "month": "月份", "api_token": "API 令牌", "sensitive_words": "敏感词规则",
           "outbox_action": "待发操作", "outbox": "待发操作", "app_instance": "应用", "audit": "审计记录"}
# detail values that are userids
PERSON_KEYS = {"userid", "old", "new", "previous", "users", "set_by", "invitor", "issuer", "owner", "found_owner",
               "new_owner"}
GROUP_KEYS = {"group", "group_id", "groups"}  # detail values that are group ids
CSV_HEADER = ["编号", "时间", "操作", "操作代码", "操作人", "对象", "详情"]


class AuditFilter(FlaskForm):
    class Meta:
        csrf = False

    person = PeopleField("人员", multiple=False, departments=False)
    group = StringField("群", validators=[Length(max=64, message="最多 64 个字符")])
    actor = StringField("操作人", validators=[Length(max=64, message="最多 64 个字符")])
    action = StringField("操作", validators=[Length(max=64, message="最多 64 个字符")])
    target = StringField("对象", validators=[Length(max=128, message="最多 128 个字符")])
    start = DayField("起始日期", format="%Y-%m-%d")
    end = DayField("截止日期", format="%Y-%m-%d")

    def validate_end(self, field):
        if field.data and self.start.data and field.data < self.start.data:
            raise ValidationError("截止日期不能早于起始日期")


@bp.get("/audit")
@roles_required("admin")
def audit_log():
    rt = runtime()
    form = AuditFilter(formdata=request.args)
    with rt.sessions() as db:
        chosen = _validate(db, form)
        entries = rows = None
        if chosen is not None:
            entries = paginate(db, _query(form, *chosen), per_page=PER_PAGE, scalars=False)
            rows = Reader(db, [e for e, _ in entries.items], rt.settings.tz).rows()
    valid = chosen is not None
    return render_template("workbench/audit.html", form=form, entries=entries, rows=rows, families=FAMILIES,
                           export_args={k: v for k, v in request.args.items() if k in form.data and v},
                           filtered=any(request.args.get(k) for k in form.data)), 200 if valid else 400


@bp.get("/audit.csv")
@roles_required("admin")
def audit_csv():
    """The filtered rows as CSV, streamed a page of rows at a time; the export is audited first."""
    rt = runtime()
    form = AuditFilter(formdata=request.args)
    with rt.sessions() as db:
        chosen = _validate(db, form)
        if chosen is None:
            return audit_log()
        total = db.scalar(select(func.count()).select_from(_query(form, *chosen).order_by(None).subquery()))
        filters = {k: v for k, v in request.args.items() if k in form.data and v}
        audit_action(db, "audit.export", "audit", filters=filters, rows=total)
        db.commit()
        stamp = rt.clock().astimezone(rt.settings.tz).strftime("%Y%m%d-%H%M")
    return Response(stream_with_context(_csv(form, chosen, rt)), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.csv"'})


def _csv(form, chosen, rt):
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(CSV_HEADER)
    yield "\ufeff" + flush()  # the BOM: Excel reads UTF-8 only with it
    after = None  # keyset paging on (at, id), newest first: no OFFSET over a long log
    with rt.sessions() as db:
        while True:
            stmt = _query(form, *chosen)
            if after is not None:
                stmt = stmt.where(or_(AuditEntry.at < after[0], and_(AuditEntry.at == after[0],
                                                                      AuditEntry.id < after[1])))
            entries = [e for e, _ in db.execute(stmt.limit(CSV_BATCH)).all()]
            if not entries:
                return
            for row in Reader(db, entries, rt.settings.tz).rows():
                writer.writerow(xlsx.row([row["id"], row["at"], row["label"], row["action"], row["actor"],
                                          row["target"], "；".join(f"{k}：{v}" for k, v in row["details"])]))
            yield flush()
            after = (entries[-1].at, entries[-1].id)


# -- the filter ------------------------------------------------------------------------------------

def _validate(db, form: AuditFilter) -> tuple[list[str] | None, list[int] | None] | None:
    """(the person's userids, the group ids) the filter names, or None with the errors on the form."""
    valid = form.validate()
    people = groups = None
    if form.person.data:
        found = directory_people.resolve(db, form.person.data)
        if found.ambiguous:  # a name two people share is asked about; an unknown id may be someone gone
            form.person.errors = [*form.person.errors, *[e for e in found.errors() if not e.startswith("通讯录")]]
            form.person.ask = found.ambiguous
            valid = False
        people = found.userids + [u.lower() for u in found.unknown]
        form.person.chosen = directory_people.people(db, found.userids)
    text = _text(form.group)
    if text:
        number = text.removeprefix("#")
        groups = [int(number)] if number.isascii() and number.isdigit() and len(number) < 10 else list(db.scalars(
            select(Group.id).where(Group.name.contains(text, autoescape=True))))
        if not groups:
            form.group.errors = [*form.group.errors, f"没有名称包含「{text}」的群"]
            valid = False
    return (people, groups) if valid else None


def _query(form: AuditFilter, people: list[str] | None, groups: list[int] | None):
    stmt = (select(AuditEntry, User.name).outerjoin(User, User.userid == AuditEntry.actor)
            .order_by(AuditEntry.at.desc(), AuditEntry.id.desc()))
    actor, action, target = (_text(f) for f in (form.actor, form.action, form.target))
    if people:
        stmt = stmt.where(or_(AuditEntry.actor.in_(people + [f"custodian:{u}" for u in people]),
                              AuditEntry.target.in_([f"user:{u}" for u in people]),
                              AuditEntry.details["userid"].as_string().in_(people)))
    if groups:
        stmt = stmt.where(or_(AuditEntry.target.in_([f"group:{g}" for g in groups]),
                              AuditEntry.details["group"].as_integer().in_(groups),
                              AuditEntry.details["group_id"].as_integer().in_(groups)))
    if actor:
        stmt = stmt.where(AuditEntry.actor == actor.lower())
    if action:
        stmt = stmt.where(or_(AuditEntry.action.startswith(action, autoescape=True),
                              AuditEntry.action.startswith(f"workbench.{action}", autoescape=True)))
    if target:
        stmt = stmt.where(AuditEntry.target.startswith(target, autoescape=True))
    tz = runtime().settings.tz
    if form.start.data:
        stmt = stmt.where(AuditEntry.at >= datetime.combine(form.start.data, time(), tz).astimezone(timezone.utc))
    if form.end.data:
        end = form.end.data + timedelta(days=1)
        stmt = stmt.where(AuditEntry.at < datetime.combine(end, time(), tz).astimezone(timezone.utc))
    return stmt


def _text(field) -> str:
    return (field.data or "").strip()


# -- in words --------------------------------------------------------------------------------------

class Reader:
    """Entries in words: the names of the people, groups and directives they mention, read at once."""

    def __init__(self, db, entries: list[AuditEntry], tz):
        self.entries, self.tz = entries, tz
        userids, groups, directives = set(), set(), set()
        for e in entries:
            userids.add(e.actor.removeprefix("custodian:"))
            kind, _, key = (e.target or "").partition(":")
            if kind == "user":
                userids.add(key)
            elif kind == "group" and key.isdigit():
                groups.add(int(key))
            elif kind == "directive" and key.isdigit():
                directives.add(int(key))
            stack = [e.details] if isinstance(e.details, dict) else []
            while stack:  # nested too: a directive's {"assignees": {"users": [...]}}
                for name, value in stack.pop().items():
                    values = value if isinstance(value, list) else [value]
                    if isinstance(value, dict):
                        stack.append(value)
                    elif name in PERSON_KEYS:
                        userids.update(v for v in values if isinstance(v, str))
                    elif name in GROUP_KEYS:
                        groups.update(v for v in values if isinstance(v, int) and not isinstance(v, bool))
        self.names = dict(db.execute(select(User.userid, User.name).where(User.userid.in_(userids))).all()) \
            if userids else {}
        self.groups = dict(db.execute(select(Group.id, Group.name).where(Group.id.in_(groups))).all()) \
            if groups else {}
        self.directives = dict(db.execute(select(Directive.id, Directive.title).where(
            Directive.id.in_(directives))).all()) if directives else {}

    def rows(self) -> list[dict]:
        return [dict(id=e.id, at=e.at.astimezone(self.tz).strftime("%Y-%m-%d %H:%M:%S"), action=e.action,
                     label=action_label(e.action), actor=self.actor(e.actor), target=self.target(e.target),
                     raw_target=e.target or "", details=self.details(e.details))
                for e in self.entries]

    def person(self, userid: str) -> str:
        return person(self.names.get(userid), userid)

    def group(self, group_id) -> str:
        name = self.groups.get(group_id)
        return f"「{name}」（#{group_id}）" if name else f" #{group_id}"

    def actor(self, actor: str) -> str:
        if actor in ACTORS:
            return ACTORS[actor]
        if actor.startswith("api:"):
            return f"API 令牌 {actor[4:]}"
        if actor.startswith("custodian:"):
            return f"{self.person(actor[10:])} · 群专管人员"
        return self.person(actor)

    def target(self, target: str) -> str:
        kind, _, key = (target or "").partition(":")
        if not target:
            return ""
        if kind == "user":
            return self.person(key)
        if kind == "group" and key.isdigit():
            return "群" + self.group(int(key))
        if kind == "directive" and key.isdigit() and int(key) in self.directives:
            return f"指令「{self.directives[int(key)]}」（#{key}）"
        if kind in TARGETS:
            return f"{TARGETS[kind]} {'#' + key if key.isdigit() else key}".strip()
        return target

    def details(self, details) -> list[tuple[str, str]]:
        return [(key, value) for key, value in safe_details(details, words=self.word)]

    def word(self, key: str, value):
        """`value` under `key` in words, or None to show it as it is."""
        if key in PERSON_KEYS:
            if isinstance(value, str):
                return self.person(value)
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return "、".join(self.person(v) for v in value) or "（空）"
        if key in GROUP_KEYS:
            if isinstance(value, int) and not isinstance(value, bool):
                return self.group(value).strip()
            if isinstance(value, list) and all(isinstance(v, int) for v in value):
                return "、".join(self.group(v).strip() for v in value) or "（空）"
        if not isinstance(value, (str, list)):
            return None
        if key == "rule" and isinstance(value, str):
            return rule_label(value)
        if key == "roles" and isinstance(value, list):
            return "、".join(ROLE_NAMES.get(str(v), str(v)) for v in value)
        if key in ("ends_at", "grace_until", "send_at", "since") and isinstance(value, str):
            try:
                return datetime.fromisoformat(value).astimezone(self.tz).strftime("%Y-%m-%d %H:%M")
            except ValueError:
                return None
        words = {"sanction": SANCTIONS, "channel": CHANNELS, "kind": GROUP_KINDS,
                 "reason": {**COMPLIANCE, **MEMBER_STATES}, "role": ROLE_NAMES}.get(key)
        return words.get(value) if words and isinstance(value, str) else None


def safe_details(details, prefix: str = "", words=None) -> list[tuple[str, str]]:
    """`(key, value)` lines for an entry's details, nested keys joined with ·, keys and (through
    `words(key, value)`) values in Chinese where labels know them, secrets left out."""
    lines: list[tuple[str, str]] = []
    if not isinstance(details, dict):
        return [(prefix or "详情", _short(details))] if details not in (None, "", {}) else []
    for key, value in details.items():
        label = DETAIL_KEYS.get(str(key), str(key))
        name = f"{prefix}·{label}" if prefix else label
        if SECRET_KEYS.search(str(key)):
            lines.append((name, "（不显示）"))
        elif isinstance(value, dict):
            lines.extend(safe_details(value, name, words) or [(name, "—")])
        else:
            worded = words(str(key), value) if words else None
            lines.append((name, _short(worded if worded is not None else value)))
    return lines


def _short(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, dict):
        text = "；".join(f"{k}: {v}" for k, v in safe_details(value)) or "（空）"
    elif isinstance(value, (list, tuple)):
        text = "、".join(_short(v) for v in value) or "（空）"
    else:
        text = SECRET_PARAMS.sub(r"\1***", str(value))
    return text if len(text) <= VALUE_MAX else text[:VALUE_MAX] + "…"
