"""/api/v1/calendar/overrides (R4): admins set a holiday or a 调休 working day; audited."""

from datetime import date

import pytest
from sqlalchemy import select

from wecom_app.models import AuditEntry
from wecom_app.workcal import load_calendar

from tests.plugins.api import bearer, error, issue_token

URL = "/api/v1/calendar/overrides"


@pytest.fixture
def admin(runtime):
    return issue_token(runtime, "admin", name="office")


def test_r4_a_holiday_is_set_replaced_listed_and_deleted_with_an_audit_trail(client, runtime, settings, admin):
    created = client.put(f"{URL}/2027-02-08", headers=bearer(admin), json={"workday": False, "note": "春节"})
    assert created.status_code == 201 and created.headers["Location"].endswith("/2027-02-08")
    assert created.get_json() | {"set_at": None} == {"day": "2027-02-08", "workday": False, "note": "春节",
                                                     "set_by": "api:office", "set_at": None}
    with runtime.sessions() as session:
        assert load_calendar(session, settings).is_workday(date(2027, 2, 8)) is False
    replaced = client.put(f"{URL}/2027-02-08", headers=bearer(admin), json={"workday": True})
    assert replaced.status_code == 200 and replaced.get_json()["note"] == ""
    client.put(f"{URL}/2028-01-01", headers=bearer(admin), json={"workday": False})
    assert [i["day"] for i in client.get(URL, headers=bearer(admin)).get_json()["items"]] == ["2027-02-08", "2028-01-01"]
    assert [i["day"] for i in client.get(f"{URL}?year=2028", headers=bearer(admin)).get_json()["items"]] == ["2028-01-01"]
    assert client.get(f"{URL}/2027-02-08", headers=bearer(admin)).get_json()["workday"] is True
    assert client.delete(f"{URL}/2027-02-08", headers=bearer(admin)).status_code == 204
    assert client.get(f"{URL}/2027-02-08", headers=bearer(admin)).status_code == 404
    assert client.delete(f"{URL}/2027-02-08", headers=bearer(admin)).status_code == 404
    with runtime.sessions() as session:
        trail = session.execute(select(AuditEntry.actor, AuditEntry.action, AuditEntry.target)
                                .order_by(AuditEntry.id)).all()
    assert trail == [("api:office", "calendar.override.set", "day:2027-02-08")] * 2 + [
        ("api:office", "calendar.override.set", "day:2028-01-01"),
        ("api:office", "calendar.override.delete", "day:2027-02-08")]


@pytest.mark.parametrize("body, field", [({}, "workday"), ({"workday": "false"}, "workday"),
                                         ({"workday": True, "note": "x" * 201}, "note"),
                                         ({"workday": True, "by": "me"}, "by")])
def test_an_invalid_override_is_422_and_changes_nothing(client, runtime, admin, body, field):
    response = client.put(f"{URL}/2027-02-08", headers=bearer(admin), json=body)
    assert response.status_code == 422 and error(response)["field"] == field
    assert client.get(URL, headers=bearer(admin)).get_json()["items"] == []
    with runtime.sessions() as session:
        assert session.scalars(select(AuditEntry)).all() == []


@pytest.mark.parametrize("day", ["2027-13-01", "2027-2-8", "tomorrow"])
def test_a_url_that_is_not_a_date_is_404(client, admin, day):
    response = client.put(f"{URL}/{day}", headers=bearer(admin), json={"workday": True})
    assert response.status_code == 404 and error(response)["code"] == "not_found"


def test_a_bad_year_filter_is_422(client, admin):
    response = client.get(f"{URL}?year=twenty", headers=bearer(admin))
    assert response.status_code == 422 and error(response)["field"] == "year"


@pytest.mark.parametrize("role, userid", [("readonly", None), ("issuer", "zhangsan"), ("custodian", "lisi")])
def test_only_admins_touch_the_calendar(client, runtime, role, userid):
    token = issue_token(runtime, role, userid=userid)
    assert client.get(URL, headers=bearer(token)).status_code == 403
    assert client.put(f"{URL}/2027-02-08", headers=bearer(token), json={"workday": True}).status_code == 403
    assert client.delete(f"{URL}/2027-02-08", headers=bearer(token)).status_code == 403
