"""Issue 10 item 6: workbench sessions are revocable (session_generations.py). A cookie
saved before logout is refused after it; an admin's 强制下线 ends another person's
sessions; a person who leaves (delete_user) or is disabled stays logged out even when the
directory brings them back; a normal session keeps working."""

from __future__ import annotations

import re
from types import SimpleNamespace

from sqlalchemy import select

from tests.plugins.workbench import csrf_of, login
from tests.plugins.world import push
from wecom_app.models import AuditEntry, User
from wecom_app.models.directory import STATUS_ACTIVE


def _cookie(client) -> str:
    return client.get_cookie("session").value


def _with_cookie(wb, value: str):
    """A second browser holding a copy of a saved session cookie."""
    thief = wb.test_client()
    thief.set_cookie("session", value)
    return thief


def _directory(wb, xml: str):
    """Deliver a 通讯录 callback through the real handlers (and the re-read the job does),
    stamped after the full sync the app started with (which ran on the real clock)."""
    rt = wb.extensions["wecom"]
    stamp = int(rt.clock().timestamp())  # not older than the sync, nor newer than the re-read that follows
    xml = re.sub(r"<CreateTime>\d+</CreateTime>", f"<CreateTime>{stamp}</CreateTime>", xml)
    push(SimpleNamespace(sessions=rt.sessions, settings=rt.settings, client=rt.client, now=rt.clock), xml)


def _refused(client) -> bool:
    answer = client.get("/me")
    return answer.status_code == 302 and answer.location.startswith("/login")


def test_a_cookie_saved_before_logout_is_refused_after_logout(wb, sandbox_state):
    client = wb.test_client()
    login(client, sandbox_state, "zhuxia")
    saved = _cookie(client)
    assert _with_cookie(wb, saved).get("/me").status_code == 200
    assert client.post("/logout", data={"csrf_token": csrf_of(client.get("/me").text)}).status_code == 302
    assert _refused(_with_cookie(wb, saved))
    assert _refused(client)
    with wb.extensions["wecom"].sessions() as db:
        assert db.scalar(select(AuditEntry).where(AuditEntry.action == "workbench.logout")).actor == "zhuxia"


def test_logout_ends_the_persons_other_sessions_and_no_one_elses(wb, sandbox_state):
    phone, desktop, colleague = wb.test_client(), wb.test_client(), wb.test_client()
    for client, userid in ((phone, "zhuxia"), (desktop, "zhuxia"), (colleague, "gaoping")):
        login(client, sandbox_state, userid)
    phone.post("/logout", data={"csrf_token": csrf_of(phone.get("/me").text)})
    assert _refused(desktop)  # the generation is per person: logout ends every device
    assert colleague.get("/me").status_code == 200
    login(desktop, sandbox_state, "zhuxia")  # a fresh login works at once
    assert desktop.get("/me").status_code == 200


def test_an_admin_logs_a_person_out_everywhere(wb, sandbox_state):
    victim = wb.test_client()
    login(victim, sandbox_state, "zhuxia")
    saved = _cookie(victim)
    employee = wb.test_client()
    login(employee, sandbox_state, "gaoping")
    token = csrf_of(employee.get("/me").text)
    assert employee.post("/settings/sessions/revoke", data={"userid": "zhuxia", "csrf_token": token}).status_code == 403
    admin = wb.test_client()
    login(admin, sandbox_state, "zhangwei")
    assert admin.post("/settings/sessions/revoke", data={"userid": "zhuxia"}).status_code == 400  # no CSRF token
    assert victim.get("/me").status_code == 200
    token = csrf_of(admin.get("/settings").text)
    answer = admin.post("/settings/sessions/revoke", data={"userid": "ZhuXia", "csrf_token": token})
    assert answer.status_code == 302
    assert _refused(victim) and _refused(_with_cookie(wb, saved))
    assert admin.get("/settings").status_code == 200  # the admin's own session is untouched
    with wb.extensions["wecom"].sessions() as db:
        entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "workbench.sessions.revoke"))
    assert (entry.actor, entry.target) == ("zhangwei", "user:zhuxia")
    unknown = admin.post("/settings/sessions/revoke", data={"userid": "nobody", "csrf_token": token},
                         follow_redirects=True)
    assert "通讯录中没有 nobody" in unknown.text


def test_r1_a_delete_user_callback_ends_the_session_and_a_rehire_does_not_revive_it(wb, sandbox_state):
    client = wb.test_client()
    login(client, sandbox_state, "zhuxia")
    saved = _cookie(client)
    _directory(wb, sandbox_state.user_delete("zhuxia"))
    assert _refused(_with_cookie(wb, saved))
    with wb.extensions["wecom"].sessions() as db:  # rehired: the mirror says active again
        db.get(User, "zhuxia").status = STATUS_ACTIVE
        db.commit()
    assert _refused(_with_cookie(wb, saved))
    fresh = wb.test_client()
    login(fresh, sandbox_state, "zhuxia")
    assert fresh.get("/me").status_code == 200


def test_a_disabled_person_stays_logged_out_when_enabled_again(wb, sandbox_state):
    client = wb.test_client()
    login(client, sandbox_state, "zhuxia")
    saved = _cookie(client)
    _directory(wb, sandbox_state.user_update("zhuxia", status=2))
    assert _refused(_with_cookie(wb, saved))
    with wb.extensions["wecom"].sessions() as db:  # enabled again
        db.get(User, "zhuxia").status = STATUS_ACTIVE
        db.commit()
    assert _refused(_with_cookie(wb, saved))


def test_a_normal_session_keeps_working(wb, sandbox_state):
    client = wb.test_client()
    login(client, sandbox_state, "zhuxia")
    assert [client.get(path).status_code for path in ("/me", "/me", "/")] == [200, 200, 302]
    assert client.get("/me").status_code == 200
