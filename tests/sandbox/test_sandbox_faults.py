"""Injected WeCom failures, from Python and over HTTP, and the call log."""

from __future__ import annotations

import time

import pytest
import requests

from tests.plugins.sandbox import AGENT_ID


def user_get(url, token, timeout=5):
    return requests.get(url + "user/get", params=dict(access_token=token, userid="lina"), timeout=timeout)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_http_error_is_an_html_page_then_recovers(emulator_url, emulator_token, sandbox_state, status):
    sandbox_state.faults.add("user/get", "http_error", status=status, count=1)
    failed = user_get(emulator_url, emulator_token)
    assert failed.status_code == status and failed.headers["Content-Type"].startswith("text/html")
    assert "<html>" in failed.text
    assert user_get(emulator_url, emulator_token).json()["errcode"] == 0


@pytest.mark.parametrize("errcode", [-1, 45009, 45033])
def test_errcode_faults_for_the_next_n_calls(emulator_url, emulator_token, sandbox_state, errcode):
    sandbox_state.faults.add("user/get", "errcode", errcode=errcode, count=2)
    assert [user_get(emulator_url, emulator_token).json()["errcode"] for _ in range(3)] == [errcode, errcode, 0]


def test_fault_for_every_path_until_cleared(emulator_url, emulator_token, sandbox_state):
    sandbox_state.faults.add(None, "errcode", errcode=-1, count=None)
    assert user_get(emulator_url, emulator_token).json()["errcode"] == -1
    assert requests.get(emulator_url + "department/list", params=dict(access_token=emulator_token),
                        timeout=5).json()["errcode"] == -1
    sandbox_state.faults.clear()
    assert user_get(emulator_url, emulator_token).json()["errcode"] == 0


def test_fault_on_another_path_does_not_fire(emulator_url, emulator_token, sandbox_state):
    sandbox_state.faults.add("message/send", "errcode", errcode=-1)
    assert user_get(emulator_url, emulator_token).json()["errcode"] == 0
    assert len(sandbox_state.faults.list()) == 1


def test_latency(emulator_url, emulator_token, sandbox_state):
    sandbox_state.faults.add("user/get", "latency", seconds=0.3)
    started = time.monotonic()
    assert user_get(emulator_url, emulator_token).json()["errcode"] == 0
    assert time.monotonic() - started >= 0.3


def test_hang_outlasts_the_client_timeout_and_does_no_work(emulator_url, emulator_token, sandbox_state):
    sandbox_state.faults.add("message/send", "hang", seconds=10)
    with pytest.raises(requests.Timeout):
        requests.post(emulator_url + "message/send", params=dict(access_token=emulator_token), timeout=0.3,
                      json=dict(touser="lina", msgtype="text", agentid=AGENT_ID, text=dict(content="hi")))
    assert sandbox_state.messages == []  # the hang ends at shutdown (state.stopping), not after 10 s


def test_connection_reset(emulator_url, emulator_token, sandbox_state):
    sandbox_state.faults.add("user/get", "reset")
    with pytest.raises(requests.ConnectionError):
        user_get(emulator_url, emulator_token)
    assert user_get(emulator_url, emulator_token).json()["errcode"] == 0


def test_faults_over_http(emulator_url, emulator_token, sandbox_state):
    control = emulator_url.replace("/cgi-bin/", "/sandbox/faults")
    added = requests.post(control, json=dict(path="/cgi-bin/user/get", kind="errcode", errcode=45033, count=3),
                          timeout=5)
    assert added.status_code == 201 and added.json()["path"] == "user/get"
    assert requests.get(control, timeout=5).json()["faults"][0]["count"] == 3
    assert user_get(emulator_url, emulator_token).json()["errcode"] == 45033
    assert requests.delete(control, timeout=5).status_code == 204
    assert user_get(emulator_url, emulator_token).json()["errcode"] == 0
    assert requests.post(control, json=dict(kind="explode"), timeout=5).status_code == 422


def test_call_log_redacts_tokens_and_counts(emulator_url, emulator_token, sandbox_state):
    requests.post(emulator_url + "message/send", params=dict(access_token=emulator_token), timeout=5,
                  json=dict(touser="lina", msgtype="text", agentid=AGENT_ID, text=dict(content="hi")))
    call = sandbox_state.calls("message/send")[0]
    assert call["params"] == {"access_token": "***"} and call["body"]["touser"] == "lina" and call["errcode"] == 0
    gettoken = sandbox_state.calls("gettoken")[0]
    assert gettoken["params"]["corpsecret"] == "***"
    summary = requests.get(emulator_url.replace("/cgi-bin/", "/sandbox/calls"), params=dict(summary=1),
                           timeout=5).json()
    assert summary == {"gettoken_calls": 1, "calls": {"gettoken": 1, "message/send": 1}}
    assert emulator_token not in str(sandbox_state.calls())
