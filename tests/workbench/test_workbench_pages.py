"""Workbench building blocks and pages through the Flask test client: the `local`
filter, the macros (field with its error, pagination, empty state, badge), the
dashboard's numbers for an admin and for a custodian."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from flask import render_template_string
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from tests.plugins.workbench import issue_directive, login
from wecom_app.directives import acks as directives_acks
from wecom_app.models import Directive, Group, GroupMember, Violation
from wecom_app.workbench.forms import EmptyForm
from wecom_app.workbench.paging import Page


class NameForm(EmptyForm):
    name = StringField("群名称", validators=[DataRequired(message="请填写群名称"), Length(max=5, message="最多 5 个字")])


def test_local_filter_shows_the_company_time_zone(app):
    with app.test_request_context():
        moment = datetime(2026, 11, 23, 16, 30, tzinfo=timezone.utc)
        assert render_template_string("{{ t|local }}", t=moment) == "2026-11-24 00:30"
        assert render_template_string("{{ t|local }}", t=None) == "—"


def test_field_macro_puts_the_error_next_to_its_field(app):
    with app.test_request_context(method="POST", data={"name": "太长的群名称啊"}):
        form = NameForm(meta={"csrf": False})
        assert not form.validate()
        html = render_template_string('{% import "workbench/_macros.html" as m %}{{ m.field(form.name) }}', form=form)
    assert "weui-cell_warn" in html and 'data-error="name">最多 5 个字</div>' in html and "群名称" in html


def test_pagination_empty_and_badge_macros(app):
    macros = '{% import "workbench/_macros.html" as m %}'
    with app.test_request_context("/groups?kind=managed&page=2"):
        html = render_template_string(macros + "{{ m.pagination(p) }}", p=Page(items=[], page=2, per_page=20, total=45))
        assert "第 2 / 3 页，共 45 条" in html and "kind=managed&amp;page=1" in html and "page=3" in html
        assert render_template_string(macros + "{{ m.pagination(p) }}", p=Page([], 1, 20, 3)).strip() == ""
        empty = render_template_string(macros + '{{ m.empty("没有群", "先新建一个", "/groups/new", "新建") }}')
        assert "先新建一个" in empty and 'href="/groups/new"' in empty
        assert "已收到" in render_template_string(macros + '{{ m.badge("acknowledged") }}')


@pytest.fixture
def company(wb):
    """Two groups (one with pengfei as custodian, one with a non-compliant member), a violation, a directive."""
    runtime = wb.extensions["wecom"]
    with runtime.sessions() as db:
        mine = Group(kind="internal", name="研发交流群", owner="caoyang", custodian="pengfei")
        other = Group(kind="managed", name="销售群", owner="hujie", custodian="hujie", chat_id="c1")
        db.add_all([mine, other])
        db.flush()
        db.add(GroupMember(group_id=other.id, member_id="zhongwen", compliance="not_active"))
        db.add(Violation(rule="R1", userid="zhongwen", group_id=other.id, detected_by="system", status="open"))
        db.commit()
        ids = mine.id, other.id
    directive_id = issue_directive(runtime, ["zhuxia", "gaoping"])
    with runtime.sessions() as db:
        directives_acks.act(db, runtime.settings, db.get(Directive, directive_id), userid="zhuxia", key="ack",
                            channel="workbench", now=runtime.clock())
        db.commit()
    return ids


def test_dashboard_for_an_admin(wb, sandbox_state, company):
    client = wb.test_client()
    login(client, sandbox_state, "zhangwei")
    html = client.get("/").text
    assert 'data-test="open-violations">1<' in html and "销售群" in html and "研发交流群" not in html.split("noncompliant")[1][:400]
    assert "1/2" in html and "width: 50%" in html  # one of two acknowledged
    assert 'data-test="outbox"' in html


def test_dashboard_for_a_custodian_is_limited_to_their_groups(wb, sandbox_state, company):
    client = wb.test_client()
    login(client, sandbox_state, "pengfei")
    html = client.get("/").text
    assert 'data-test="open-violations">0<' in html and "销售群" not in html
    assert 'data-test="outbox"' not in html and "没有发往你负责的群的指令" in html


def test_admin_actions_go_to_the_audit_log(wb, sandbox_state):
    from sqlalchemy import select

    from wecom_app.models import AuditEntry
    from wecom_app.workbench.access import audit_action, roles_required

    @roles_required("admin")
    def rename():
        with wb.extensions["wecom"].sessions() as db:
            audit_action(db, "group.rename", "group:7", name="新名字")
            db.commit()
        return "ok"

    wb.add_url_rule("/_test/rename", view_func=rename)
    client = wb.test_client()
    login(client, sandbox_state, "lina")
    assert client.get("/_test/rename").text == "ok"
    with wb.extensions["wecom"].sessions() as db:
        entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "group.rename"))
    assert (entry.actor, entry.target, entry.details) == ("lina", "group:7", {"channel": "workbench", "name": "新名字"})


def test_refusals_are_pages_in_chinese(wb, sandbox_state):
    client = wb.test_client()
    login(client, sandbox_state, "zhuxia")
    stale = client.post("/directives/1/act", data={"key": "ack"})
    assert stale.status_code == 400 and "表单已过期" in stale.text
    missing = client.get("/directives/99999")
    assert missing.status_code == 404 and "找不到页面" in missing.text
