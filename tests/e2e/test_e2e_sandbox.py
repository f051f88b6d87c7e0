"""End to end over real HTTP: the sandbox (emulator + app on one port), WeCom's
encrypted callbacks pushed by the emulator, the dispatcher, the metrics."""

import pytest
import requests
from sqlalchemy import select

from wecom_app.models import InboxEvent
from wecom_app.scheduler import run_job

pytestmark = pytest.mark.both_databases  # the end-to-end layer


def test_console_url_check_is_answered_with_the_echostr(sandbox):
    app, _, _ = sandbox
    response = app.extensions["wecom_pusher"].verify_url("5927782489442352469")
    assert response.status_code == 200 and response.text == "5927782489442352469"


def test_departure_callback_is_stored_once_and_dispatched(sandbox):
    app, runtime, state = sandbox
    pusher = app.extensions["wecom_pusher"]
    userid = next(u for u in sorted(state.users) if state.users[u]["status"] == 1)
    xml = state.user_delete(userid)
    assert [pusher.push(xml).status_code for _ in range(3)] == [200, 200, 200]  # WeCom's retries
    with runtime.sessions() as session:
        [row] = session.scalars(select(InboxEvent)).all()
    assert row.change_type == "delete_user" and f"<UserID><![CDATA[{userid}]]>" in row.payload
    stats = run_job("inbox", runtime)
    assert stats.total == 1
    metrics = requests.get(f"{runtime.settings.public_url}/metrics", timeout=5).text
    assert "wecom_callbacks_duplicate_total" in metrics and "wecom_inbox_pending 0.0" in metrics


def test_sandbox_home_page_pushes_a_real_callback(sandbox):
    app, runtime, state = sandbox
    web = requests.Session()
    home = web.get(f"{runtime.settings.public_url}/sandbox", timeout=5)
    assert home.status_code == 200 and "回调收件箱" in home.text
    csrf = home.text.split('name="csrf" value="')[1].split('"')[0]
    userid = sorted(state.users)[0]
    page = web.post(f"{runtime.settings.public_url}/sandbox/simulate",
                    data={"csrf": csrf, "kind": "text", "userid": userid}, timeout=10)
    assert "HTTP 200" in page.text
    with runtime.sessions() as session:
        [row] = session.scalars(select(InboxEvent)).all()
    assert row.msg_type == "text" and row.from_user == userid
    refused = web.post(f"{runtime.settings.public_url}/sandbox/simulate",
                       data={"csrf": "forged", "kind": "text", "userid": userid}, timeout=10)
    assert refused.status_code == 400


def test_emulator_is_reachable_through_the_app_client(sandbox):
    _, runtime, state = sandbox
    agent = runtime.client.agent_get()
    assert agent["agentid"] == runtime.settings.agent_id
    assert state.gettoken_calls == 1


def test_r7_managed_group_created_through_the_outbox_becomes_active(sandbox):
    from wecom_app.directory.full_sync import full_sync
    from wecom_app.governance.registry import create_managed_group
    from wecom_app.models import Group

    _, runtime, state = sandbox
    now = runtime.clock()
    full_sync(runtime.sessions, runtime.client, now)
    with runtime.sessions.begin() as session:
        group = create_managed_group(
            session, runtime.settings, name="财务部工作群", owner="zhangwei", custodian="liuyang",
            scope={"departments": [4], "tags": [], "users": [], "exclude": []}, allow_external=False,
            join_policy="auto", actor="test", now=now)
        chat_id = group.chat_id
    run_job("outbox", runtime)
    with runtime.sessions() as session:
        group = session.scalar(select(Group).where(Group.chat_id == chat_id))
    assert group.status == "active"
    assert set(state.appchats[chat_id]["userlist"]) >= {"zhangwei", "liuyang", "liuqiang", "yangmin"}
