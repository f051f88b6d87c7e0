"""审计: the audit log (R6, R15), newest first, for admins.

Filters: the actor (a userid, `api:<token name>` or `system`), an action prefix
(`group.` also finds what the workbench wrote as `workbench.group.*`), a target
prefix (`group:12`, `day:`), and a date range in the company's time zone.
Details are shown as `key: value` lines; a key that names a secret (token,
secret, AES key, password, a robot webhook) is never shown, whatever wrote it.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta, timezone

from flask import render_template, request
from flask_wtf import FlaskForm
from sqlalchemy import or_, select
from wtforms import StringField
from wtforms.validators import Length, ValidationError

from wecom_app.models import AuditEntry, User
from wecom_app.workbench.access import roles_required
from wecom_app.workbench.blueprint import bp, runtime
from wecom_app.workbench.forms import DayField
from wecom_app.workbench.paging import paginate

PER_PAGE = 30
SECRET_KEYS = re.compile(r"secret|token|passw|aes|signature|webhook|robot|cookie|credential|private", re.I)
# a secret inside a value under a harmless key: a URL's access_token=, a robot webhook's key=
SECRET_PARAMS = re.compile(r"((?:access_token|corpsecret|secret|token|key)=)[^&\s\"']+", re.I)
VALUE_MAX = 300
# quick filters: the action families the app writes
FAMILIES = (("group.", "群"), ("member.", "成员"), ("directive.", "指令"), ("violation.", "违规"),
            ("sanction.", "处罚"), ("announcement.", "公告"), ("calendar.", "日历"), ("assessment.", "考核"),
            ("workbench.login", "登录"))


class AuditFilter(FlaskForm):
    class Meta:
        csrf = False

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
    form = AuditFilter(formdata=request.args)
    valid = form.validate()
    entries = None
    if valid:
        with runtime().sessions() as db:
            entries = paginate(db, _query(form), per_page=PER_PAGE, scalars=False)
    return render_template("workbench/audit.html", form=form, entries=entries, families=FAMILIES,
                           details=safe_details, filtered=any(request.args.get(k) for k in form.data)), \
        200 if valid else 400


def _query(form: AuditFilter):
    stmt = (select(AuditEntry, User.name).outerjoin(User, User.userid == AuditEntry.actor)
            .order_by(AuditEntry.at.desc(), AuditEntry.id.desc()))
    actor, action, target = (_text(f) for f in (form.actor, form.action, form.target))
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


def safe_details(details, prefix: str = "") -> list[tuple[str, str]]:
    """`(key, value)` lines for an entry's details, nested keys dotted, secrets left out."""
    lines: list[tuple[str, str]] = []
    if not isinstance(details, dict):
        return [(prefix or "details", _short(details))] if details not in (None, "", {}) else []
    for key, value in details.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if SECRET_KEYS.search(str(key)):
            lines.append((name, "（不显示）"))
        elif isinstance(value, dict):
            lines.extend(safe_details(value, name) or [(name, "—")])
        else:
            lines.append((name, _short(value)))
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
