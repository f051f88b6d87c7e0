"""The outbox sender's test bench (tests/pipeline/test_outbox*.py, test_send_limits.py): a
recording fake WeCom client and short helpers.

- `calendar` (fixture): the WorkCalendar of the test's `settings`.
- `FakeClient(*script)`: answers like WeComClient, outcomes scripted; `.calls` records (api, body).
- `text(userids)`, `add(sessions, kind, payload, key, now)`, `row(sessions, id)`, `send(...)` (one
  `outbox.send_due`), `robot(sessions, settings, key)` (a group with a registered robot).
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from wecom_app.models import Group, OutboxAction
from wecom_app.wecom import outbox
from wecom_app.wecom.robot_keys import encrypt_robot_key
from wecom_app.workcal import WorkCalendar

TUESDAY_10 = datetime(2026, 3, 10, 10, 0, 7, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(timezone.utc)


class FakeClient:
    """Answers like WeComClient; `script` holds the outcomes of the next calls
    (an exception to raise or a dict to return), then every call succeeds."""

    def __init__(self, *script):
        self.script = list(script)
        self.calls: list[tuple[str, dict]] = []
        self.lock = threading.Lock()

    def _answer(self, api, body):
        with self.lock:
            self.calls.append((api, body))
            outcome = self.script.pop(0) if self.script else {"errcode": 0, "errmsg": "ok", "msgid": f"msg{len(self.calls)}"}
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def send_message(self, body):
        return self._answer("message/send", body)

    def update_template_card(self, body):
        return self._answer("message/update_template_card", body)

    def appchat_create(self, body):
        return self._answer("appchat/create", body)

    def appchat_update(self, body):
        return self._answer("appchat/update", body)

    def appchat_send(self, body):
        return self._answer("appchat/send", body)

    def webhook_send(self, key, body):
        return self._answer("webhook/send", {"key": key, **body})


@pytest.fixture
def calendar(settings):
    return WorkCalendar(settings)


def text(userids, content="请于周五前提交周报"):
    return {"touser": "|".join(userids) if isinstance(userids, list) else userids, "msgtype": "text", "text": {"content": content}}


def add(sessions, kind, payload, key, now, **kw):
    with sessions.begin() as session:
        return outbox.enqueue(session, kind, payload, key=key, now=now, **kw).id


def row(sessions, id):  # noqa: A002
    with sessions() as session:
        return session.get(OutboxAction, id)


def send(sessions, client, settings, calendar, now, **kw):
    return outbox.send_due(sessions, client, settings, calendar, now, **kw)


def robot(sessions, settings, key: str) -> int:
    """A group with a registered robot whose key is `key`: a webhook/send row names the
    group, and the sender decrypts the key when it sends (issue 10)."""
    with sessions.begin() as session:
        group = Group(kind="internal", name=f"群 {key}", robot_webhook=encrypt_robot_key(settings, key))
        session.add(group)
        session.flush()
        return group.id
