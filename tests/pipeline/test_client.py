"""The WeCom client against the sandbox emulator over real HTTP (the token row's tests on SQLite
and PostgreSQL).

Token sharing and single-flight refresh (91039), the one-refresh-one-retry rule
for 40014/42001, bounded retries on -1 / HTTP 5xx / hangs, typed errors for
rate limits (90312), partial message/send failures (90236), and no secret in
any log line or exception text. Backoff sleeps are recorded, never slept.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from tests.conftest import SECRET, replace
from tests.plugins.sandbox import CONTACT_SECRET
from wecom_app.db import make_engine, make_sessionmaker
from wecom_app.models import AccessToken
from wecom_app.wecom.client import (
    WeComAuthError,
    WeComBusy,
    WeComClient,
    WeComError,
    WeComRateLimited,
    WeComUnavailable,
)

TIMEOUT = 1.0


@pytest.fixture
def wecom_settings(settings, emulator_url):
    return replace(settings, api_base=emulator_url, wecom_timeout=TIMEOUT, contact_secret=CONTACT_SECRET)


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def make_client(wecom_settings, sessions, sleeps):
    made = []

    def make(**kwargs) -> WeComClient:
        kwargs.setdefault("sleep", sleeps.append)
        client = WeComClient(kwargs.pop("settings", wecom_settings), kwargs.pop("sessions", sessions), **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def wecom(make_client):
    return make_client()


def gettokens(state) -> int:
    return len(state.calls("gettoken"))


def stored_tokens(sessions) -> list[AccessToken]:
    with sessions() as session:
        return list(session.scalars(select(AccessToken)))


def some_userid(state) -> str:
    return sorted(state.visible_users())[0]


# -- the shared token -------------------------------------------------------------------------------

@pytest.mark.both_databases  # the shared token row: ON CONFLICT per dialect
def test_token_is_stored_in_the_database_and_reused_by_another_client(make_client, sessions, sandbox_state):
    make_client().agent_get()
    make_client().user_get(some_userid(sandbox_state))  # a second client object, e.g. another worker
    assert gettokens(sandbox_state) == 1
    (row,) = stored_tokens(sessions)
    assert row.key == hashlib.sha256(f"{sandbox_state.corp_id}\0{SECRET}".encode()).hexdigest()
    assert SECRET[:6] not in row.key and row.access_token and row.expires_at > datetime.now(timezone.utc)


def test_token_is_refreshed_a_few_minutes_before_expiry(make_client, sandbox_state):
    def clock():
        return datetime.fromtimestamp(sandbox_state.clock(), timezone.utc)

    wecom = make_client(clock=clock)
    wecom.agent_get()
    sandbox_state.clock.advance(7200 - 240)  # inside the refresh margin, still valid on the server
    wecom.agent_get()
    assert gettokens(sandbox_state) == 2
    assert [c.get("errcode", 0) for c in sandbox_state.calls("agent/get")] == [0, 0]


def test_token_expired_on_the_server_is_refreshed_once(wecom, sandbox_state):
    wecom.agent_get()
    sandbox_state.clock.advance(7300)  # the client's clock did not move: the server says 42001
    assert wecom.agent_get()["agentid"] == sandbox_state.agent_id
    assert gettokens(sandbox_state) == 2
    assert len(sandbox_state.calls("agent/get")) == 3


def test_invalidated_token_refresh_and_single_retry(wecom, sandbox_state, sleeps):
    wecom.agent_get()
    sandbox_state.invalidate_tokens()  # a secret reset or WeCom ops: 40014
    assert wecom.agent_get()["agentid"] == sandbox_state.agent_id
    assert gettokens(sandbox_state) == 2
    assert len(sandbox_state.calls("agent/get")) == 3
    assert sleeps == []


def test_persistent_40014_raises_instead_of_looping(wecom, sandbox_state, monkeypatch):
    wecom.agent_get()
    issue = sandbox_state.issue_token

    def issue_and_revoke(kind):
        answer = issue(kind)
        sandbox_state.invalidate_tokens()  # every fresh token is already dead
        return answer

    monkeypatch.setattr(sandbox_state, "issue_token", issue_and_revoke)
    sandbox_state.invalidate_tokens()
    with pytest.raises(WeComAuthError) as caught:
        wecom.agent_get()
    assert caught.value.errcode in (40014, 42001) and not caught.value.transient
    assert gettokens(sandbox_state) == 2  # the first token, and one refresh
    assert len(sandbox_state.calls("agent/get")) == 3  # the first call, the rejected one, one retry


def test_a_freshly_fetched_token_rejected_is_not_fetched_again(wecom, sandbox_state, monkeypatch):
    issue = sandbox_state.issue_token

    def issue_and_revoke(kind):
        answer = issue(kind)
        sandbox_state.invalidate_tokens()
        return answer

    monkeypatch.setattr(sandbox_state, "issue_token", issue_and_revoke)
    with pytest.raises(WeComAuthError):
        wecom.agent_get()
    assert gettokens(sandbox_state) == 1 and len(sandbox_state.calls("agent/get")) == 1


def test_wrong_secret_is_a_config_error_and_gettoken_is_not_retried(make_client, sandbox_state, sleeps):
    wecom = make_client(secret="not-the-secret")
    with pytest.raises(WeComAuthError) as caught:
        wecom.agent_get()
    assert caught.value.errcode == 40001 and caught.value.api == "gettoken"
    assert gettokens(sandbox_state) == 1 and sleeps == []


@pytest.mark.both_databases  # the shared token row: ON CONFLICT per dialect
def test_contact_secret_has_its_own_token(wecom, sessions, sandbox_state):
    wecom.agent_get()
    contacts = wecom.for_contacts()
    assert contacts is wecom.for_contacts()
    assert "next_cursor" in wecom.user_list_id(limit=10)  # routed to the 通讯录同步 secret
    assert gettokens(sandbox_state) == 2
    assert len({row.access_token for row in stored_tokens(sessions)}) == 2


# -- single flight ----------------------------------------------------------------------------------

def run_threads(count: int, target) -> list:
    barrier, results = threading.Barrier(count), []

    def run(index):
        barrier.wait()
        results.append(target(index))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


@pytest.mark.both_databases  # concurrency: FOR UPDATE on the token row
def test_eight_threads_on_a_cold_cache_fetch_one_token(wecom, sandbox_state):
    sandbox_state.faults.add("gettoken", "latency", seconds=0.2, count=None)  # a wide window for a race
    results = run_threads(8, lambda i: wecom.agent_get()["agentid"])
    assert results == [sandbox_state.agent_id] * 8
    assert gettokens(sandbox_state) == 1


@pytest.mark.both_databases  # concurrency: FOR UPDATE on the token row
@pytest.mark.parametrize("cache", ["cold", "expiring"])
def test_eight_workers_with_their_own_connections_fetch_one_token(cache, make_client, db_url, sandbox_state):
    """Separate clients and engines. On PostgreSQL, as separate processes would have, the database
    serialises them (the insert of the missing row when cold, SELECT ... FOR UPDATE of the existing row
    later); on SQLite the gettoken runs outside any transaction and the per-key in-process lock does
    (two processes may both fetch, which is harmless)."""
    def clock():
        return datetime.fromtimestamp(sandbox_state.clock(), timezone.utc)

    if cache == "expiring":
        make_client(clock=clock).agent_get()
        sandbox_state.clock.advance(7200 - 60)
    before = gettokens(sandbox_state)
    sandbox_state.faults.add("gettoken", "latency", seconds=0.2, count=None)
    engines = [make_engine(db_url) for _ in range(8)]
    clients = [make_client(sessions=make_sessionmaker(engine), clock=clock) for engine in engines]
    try:
        results = run_threads(8, lambda i: clients[i].agent_get()["agentid"])
    finally:
        for engine in engines:
            engine.dispose()
    assert results == [sandbox_state.agent_id] * 8
    assert gettokens(sandbox_state) - before == 1


# -- failures and retries ---------------------------------------------------------------------------

def test_http_500_is_retried(wecom, sandbox_state, sleeps):
    sandbox_state.faults.add("agent/get", "http_error", status=500, count=1)
    assert wecom.agent_get()["agentid"] == sandbox_state.agent_id
    assert len(sandbox_state.calls("agent/get")) == 2 and len(sleeps) == 1


def test_system_busy_is_retried_then_succeeds(wecom, sandbox_state, sleeps):
    sandbox_state.faults.add("agent/get", "errcode", errcode=-1, count=2)
    assert wecom.agent_get()["agentid"] == sandbox_state.agent_id
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0] * 0.5  # growing, jittered


def test_system_busy_after_retries_is_wecom_busy(wecom, sandbox_state, sleeps):
    sandbox_state.faults.add("agent/get", "errcode", errcode=-1, count=None)
    with pytest.raises(WeComBusy) as caught:
        wecom.agent_get()
    assert caught.value.errcode == -1 and caught.value.transient
    assert len(sandbox_state.calls("agent/get")) == 3 and len(sleeps) == 2


def test_busy_gettoken_is_retried(wecom, sandbox_state, sleeps):
    sandbox_state.faults.add("gettoken", "errcode", errcode=-1, count=1)
    assert wecom.agent_get()["agentid"] == sandbox_state.agent_id
    assert gettokens(sandbox_state) == 2 and len(sleeps) == 1


def test_a_hang_times_out_as_unavailable_within_the_budget(wecom, sandbox_state, sleeps):
    wecom.agent_get()  # the token first, so only the call hangs
    sandbox_state.faults.add("agent/get", "hang", seconds=5, count=None)
    started = time.monotonic()
    with pytest.raises(WeComUnavailable) as caught:
        wecom.agent_get()
    elapsed = time.monotonic() - started
    assert caught.value.errcode is None and caught.value.transient
    assert 3 * TIMEOUT * 0.9 <= elapsed < 3 * TIMEOUT + 1.5  # three timed-out attempts, no real sleep
    assert len(sleeps) == 2


def test_unreachable_server_is_unavailable(make_client, wecom_settings, sleeps):
    wecom = make_client(settings=replace(wecom_settings, api_base="http://127.0.0.1:9/cgi-bin/"))
    with pytest.raises(WeComUnavailable) as caught:
        wecom.agent_get()
    assert caught.value.api == "gettoken" and len(sleeps) == 2


def test_frequency_limit_is_rate_limited_and_not_retried(wecom, sandbox_state, sleeps):
    sandbox_state.faults.add("message/send", "errcode", errcode=45009, count=1)
    with pytest.raises(WeComRateLimited) as caught:
        wecom.send_message({"touser": some_userid(sandbox_state), "msgtype": "text", "text": {"content": "hi"}})
    error = caught.value
    assert (error.errcode, error.api, error.transient) == (45009, "message/send", True)
    assert error.retry_after >= 30 and sleeps == []
    assert len(sandbox_state.calls("message/send")) == 1


def test_other_errors_are_plain_wecom_errors(wecom):
    with pytest.raises(WeComError) as caught:
        wecom.user_get("nobody-by-this-name")
    assert caught.value.errcode not in (0, None) and not caught.value.transient
    assert type(caught.value) is WeComError


# -- typed calls ------------------------------------------------------------------------------------

def test_partial_send_failure_is_returned_not_raised(wecom, sandbox_state):
    userid = some_userid(sandbox_state)
    result = wecom.send_message(
        {"touser": f"{userid}|nobody-by-this-name", "msgtype": "text", "text": {"content": "会议通知"}}
    )
    assert result["errcode"] == 0 and result["msgid"]
    assert result["invaliduser"] == "nobody-by-this-name"
    (sent,) = sandbox_state.calls("message/send")
    assert sent.get("body", {}).get("agentid", sandbox_state.agent_id) == sandbox_state.agent_id


def test_appchat_round_trip(wecom, sandbox_state):
    members = sorted(sandbox_state.visible_users())[:3]
    chatid = wecom.appchat_create({"name": "项目群", "owner": members[0], "userlist": members})["chatid"]
    wecom.appchat_send({"chatid": chatid, "msgtype": "text", "text": {"content": "欢迎"}})
    assert sorted(wecom.appchat_get(chatid)["chat_info"]["userlist"]) == members


def test_directory_reads(wecom, sandbox_state):
    userid = some_userid(sandbox_state)
    department = sandbox_state.user(userid)["department"][0]
    assert any(d["id"] == 1 for d in wecom.department_list()["department"])
    assert [d["id"] for d in wecom.department_list(department)["department"]][0] == department
    assert userid in [u["userid"] for u in wecom.user_simplelist(department)["userlist"]]
    assert userid in [u["userid"] for u in wecom.user_list(department)["userlist"]]
    assert wecom.user_get(userid)["userid"] == userid
    assert wecom.agent_get()["allow_partys"]["partyid"] == [1]


def test_oauth_code_is_exchanged_with_auth_getuserinfo(wecom, sandbox_state):
    userid = some_userid(sandbox_state)
    assert wecom.auth_getuserinfo(sandbox_state.issue_oauth_code(userid))["userid"] == userid
    assert sandbox_state.calls("auth/getuserinfo")


# -- no secrets anywhere ----------------------------------------------------------------------------

def test_connection_reset_is_retried(wecom, sandbox_state, sleeps):
    sandbox_state.faults.add("agent/get", "reset", count=1)
    assert wecom.agent_get()["agentid"] == sandbox_state.agent_id
    assert len(sleeps) == 1


def test_no_secret_or_token_in_logs_or_exceptions(make_client, wecom_settings, sandbox_state, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    wecom = make_client()
    issued = []
    issue = sandbox_state.issue_token

    def issue_and_note(kind):
        answer = issue(kind)
        issued.append(answer["access_token"])
        return answer

    monkeypatch.setattr(sandbox_state, "issue_token", issue_and_note)
    wecom.agent_get()
    sandbox_state.invalidate_tokens()  # 40014 with the old token in the URL, then a gettoken
    sandbox_state.faults.add("gettoken", "http_error", status=503, count=1)
    wecom.agent_get()
    sandbox_state.faults.add("agent/get", "reset", count=1)
    sandbox_state.faults.add("agent/get", "errcode", errcode=45009, count=1)
    calls = [
        wecom.agent_get,
        lambda: wecom.webhook_send("robot-key-0123456789", {"msgtype": "text", "text": {"content": "hi"}}),
        make_client(secret="wrong-secret-0123456789").agent_get,
        make_client(settings=replace(wecom_settings, api_base="http://127.0.0.1:9/cgi-bin/"), secret="x").agent_get,
    ]
    errors: list[WeComError] = []
    for call in calls:
        with pytest.raises(WeComError) as caught:
            call()
        errors.append(caught.value)
    assert [type(e) for e in errors] == [WeComRateLimited, WeComError, WeComAuthError, WeComUnavailable]
    assert len(issued) == 2 and "wecom.api.error" in caplog.text
    texts = [caplog.text, *(str(e) for e in errors), *(repr(e) for e in errors), *(str(e.args) for e in errors)]
    for secret in (SECRET, "wrong-secret-0123456789", "robot-key-0123456789", *issued):
        assert not any(secret in text for text in texts), secret
    assert "access_token=" not in caplog.text and "corpsecret=" not in caplog.text


# -- state-changing calls are not repeated once they may have reached WeCom -------------------------

def message_to(state, content="hi") -> dict:
    return {"touser": some_userid(state), "msgtype": "text", "text": {"content": content}}


def attempts(state, fault) -> int:
    """How many requests reached the emulator and fired `fault` (a hang is logged only when it ends)."""
    return next(f["hits"] for f in state.faults.list() if f["id"] == fault["id"])


def test_a_message_send_that_hangs_is_sent_once(wecom, sandbox_state, sleeps):
    wecom.agent_get()  # the token first, so only the send hangs
    fault = sandbox_state.faults.add("message/send", "hang", seconds=5, count=None)
    started = time.monotonic()
    with pytest.raises(WeComUnavailable) as caught:
        wecom.send_message(message_to(sandbox_state))
    assert caught.value.errcode is None and caught.value.transient and caught.value.api == "message/send"
    assert time.monotonic() - started < 2 * TIMEOUT  # one read timeout, no second attempt
    assert attempts(sandbox_state, fault) == 1 and sleeps == []


@pytest.mark.parametrize("fault", [dict(kind="reset"), dict(kind="http_error", status=502)], ids=["reset", "http_502"])
@pytest.mark.parametrize("api", ["message/send", "appchat/send", "appchat/create", "appchat/update",
                                 "message/update_template_card"])
def test_state_changing_posts_are_not_repeated_after_sending(api, fault, wecom, sandbox_state, sleeps):
    wecom.agent_get()
    added = sandbox_state.faults.add(api, count=None, **fault)
    with pytest.raises(WeComUnavailable):
        wecom.post(api, {"chatid": "proj1", "msgtype": "text", "text": {"content": "hi"}})
    assert attempts(sandbox_state, added) == 1 and sleeps == []


def test_system_busy_on_a_send_is_retried_and_delivered_once(wecom, sandbox_state, sleeps):
    userid = some_userid(sandbox_state)
    sandbox_state.faults.add("message/send", "errcode", errcode=-1, count=1)  # WeCom did not do the work
    assert wecom.send_message(message_to(sandbox_state, "只一次"))["msgid"]
    assert len(sandbox_state.calls("message/send")) == 2 and len(sleeps) == 1
    assert [m["body"]["text"]["content"] for m in sandbox_state.inbox(userid)] == ["只一次"]


def test_a_send_to_an_unreachable_server_is_retried(make_client, wecom_settings, sleeps):
    """Connection refused: the request never left, so retrying cannot deliver twice."""
    wecom = make_client(settings=replace(wecom_settings, api_base="http://127.0.0.1:9/cgi-bin/"))
    with pytest.raises(WeComUnavailable):
        wecom.webhook_send("robot-key", {"msgtype": "text", "text": {"content": "hi"}})
    assert len(sleeps) == 2


def test_a_get_that_hangs_is_retried(wecom, sandbox_state, sleeps):
    wecom.agent_get()
    fault = sandbox_state.faults.add("user/get", "hang", seconds=5, count=1)
    assert wecom.user_get(some_userid(sandbox_state))["userid"]
    assert fault["count"] == 1 and sandbox_state.faults.list() == []  # the hang fired, then a second attempt
    assert len(sleeps) == 1 and sandbox_state.calls("user/get")[-1]["errcode"] in (0, None)


@pytest.mark.parametrize("api", ["externalcontact/groupchat/list", "user/list_id"])
def test_reads_sent_as_post_keep_their_retries(api, wecom, sandbox_state, sleeps):
    sandbox_state.faults.add(api, "http_error", status=503, count=1)
    client = wecom.for_contacts() if api == "user/list_id" else wecom
    client.post(api, {"limit": 10})
    assert len(sleeps) == 1 and len(sandbox_state.calls(api)) == 2


def test_idempotent_allow_list():
    from wecom_app.wecom.client import is_idempotent

    for api in ("gettoken", "user/get", "department/list", "agent/get", "appchat/get", "tag/list",
                "externalcontact/groupchat/list", "externalcontact/groupchat/get", "auth/getuserinfo"):
        assert is_idempotent("POST", api), api
    for api in ("message/send", "appchat/send", "appchat/create", "appchat/update", "webhook/send",
                "message/update_template_card", "externalcontact/groupchat/transfer"):
        assert not is_idempotent("POST", api), api
    assert is_idempotent("GET", "anything/at/all")


# -- a wrong secret is remembered -------------------------------------------------------------------

def test_twenty_calls_with_a_wrong_secret_ask_gettoken_once(make_client, sandbox_state, sleeps):
    now = [datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)]
    wecom = make_client(secret="not-the-secret", clock=lambda: now[0])
    for _ in range(20):
        with pytest.raises(WeComAuthError) as caught:
            wecom.agent_get()
        assert (caught.value.errcode, caught.value.api) == (40001, "gettoken")
    assert gettokens(sandbox_state) == 1 and sleeps == []
    now[0] += timedelta(minutes=6)  # remembered for a few minutes, then WeCom is asked again
    with pytest.raises(WeComAuthError):
        wecom.agent_get()
    assert gettokens(sandbox_state) == 2


def test_a_wrong_secret_is_asked_once_by_eight_threads(make_client, sandbox_state):
    wecom = make_client(secret="not-the-secret")

    def call(_):
        try:
            wecom.agent_get()
        except WeComAuthError as error:
            return error.errcode

    assert run_threads(8, call) == [40001] * 8
    assert gettokens(sandbox_state) == 1


def test_untrusted_ip_is_remembered_but_busy_is_not(wecom, sandbox_state, sleeps):
    sandbox_state.faults.add("gettoken", "errcode", errcode=60020, count=1)
    for _ in range(3):
        with pytest.raises(WeComAuthError) as caught:
            wecom.agent_get()
        assert caught.value.errcode == 60020
    assert gettokens(sandbox_state) == 1


def test_a_corrected_secret_starts_clean(make_client, sandbox_state):
    with pytest.raises(WeComAuthError):
        make_client(secret="not-the-secret").agent_get()
    assert make_client().agent_get()["agentid"] == sandbox_state.agent_id  # the restarted process
    assert gettokens(sandbox_state) == 2


# -- SQLite: no database lock while gettoken is on the wire ------------------------------------------

@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_is_not_locked_while_a_slow_gettoken_runs(wecom, db_url, sandbox_state):
    import sqlite3

    fault = sandbox_state.faults.add("gettoken", "latency", seconds=0.8, count=None)  # within the 1 s timeout
    caller = threading.Thread(target=wecom.agent_get)
    caller.start()
    try:
        deadline = time.monotonic() + 5
        while attempts(sandbox_state, fault) == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert attempts(sandbox_state, fault) == 1  # gettoken is on the wire now
        started = time.monotonic()
        callback = sqlite3.connect(db_url.split("///", 1)[1], timeout=1, isolation_level=None)
        try:  # what the callback receiver does: a short write transaction
            callback.execute("BEGIN IMMEDIATE")
            callback.execute(
                "INSERT INTO inbox_event (dedupe_key, source, msg_type, event, change_type, from_user, create_time,"
                " payload, received_at, status, attempts, next_attempt_at)"
                " VALUES ('k1', 'app', 'event', '', '', '', 0, '<xml/>', '2026-03-02 09:00:00', 'pending', 0,"
                " '2026-03-02 09:00:00')"
            )
            callback.execute("COMMIT")
        finally:
            callback.close()
        assert time.monotonic() - started < 1
        assert caller.is_alive()  # the insert did not wait for gettoken
    finally:
        caller.join(10)
    assert gettokens(sandbox_state) == 1 and stored_tokens(wecom.sessions)[0].access_token


def test_only_failures_before_sending_count_as_not_sent():
    import requests
    from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

    from wecom_app.wecom.client import _not_sent

    refused = MaxRetryError(None, "/cgi-bin/message/send", NewConnectionError(None, "refused"))
    assert _not_sent(requests.ConnectionError(refused))
    assert _not_sent(requests.ConnectTimeout(refused))
    reset = ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))
    assert not _not_sent(requests.ConnectionError(reset))
    assert not _not_sent(requests.ReadTimeout("read timed out"))
    assert not _not_sent(requests.ConnectionError("something else"))
