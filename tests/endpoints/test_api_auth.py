"""REST API authentication, roles and the JSON error shape for every status (DESIGN §3)."""

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from wecom_app.models import ApiToken

from tests.plugins.api import bearer, error, issue_token


@pytest.fixture
def admin(runtime):
    return issue_token(runtime, "admin", name="office")


def test_missing_token_is_401_with_a_bearer_challenge(client):
    response = client.get("/api/v1/groups")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert error(response) == {"code": "unauthorized", "field": None,
                               "message": "an Authorization: Bearer <token> header is required"}


@pytest.mark.parametrize("header", ["Bearer wca_nope", "Basic b2ZmaWNlOnB3", "Bearer", "wca_test_office_"])
def test_wrong_or_malformed_token_is_401(client, admin, header):
    response = client.get("/api/v1/groups", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert error(response)["code"] == "unauthorized"


def test_revoked_token_is_401(client, runtime, admin):
    assert client.get("/api/v1/groups", headers=bearer(admin)).status_code == 200
    with runtime.sessions.begin() as session:
        session.scalars(select(ApiToken)).one().revoked = True
    response = client.get("/api/v1/groups", headers=bearer(admin))
    assert response.status_code == 401 and 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_role_the_endpoint_does_not_take_is_403(client, runtime):
    readonly = issue_token(runtime, "readonly")
    custodian = issue_token(runtime, "custodian", userid="lisi")
    response = client.post("/api/v1/groups", headers=bearer(readonly), json={})
    assert response.status_code == 403 and error(response)["code"] == "forbidden"
    assert client.get("/api/v1/calendar/overrides", headers=bearer(custodian)).status_code == 403


def test_authentication_comes_before_the_body_is_read(client):
    response = client.post("/api/v1/groups", data="{not json", content_type="application/json")
    assert response.status_code == 401


def test_last_used_at_is_recorded_at_most_once_a_minute(client, runtime, admin):
    start = runtime.clock()
    runtime.clock = lambda: start
    client.get("/api/v1/groups", headers=bearer(admin))
    runtime.clock = lambda: start + timedelta(seconds=30)
    client.get("/api/v1/groups", headers=bearer(admin))
    with runtime.sessions() as session:
        assert session.scalars(select(ApiToken.last_used_at)).one() == start
    runtime.clock = lambda: start + timedelta(minutes=2)
    client.get("/api/v1/groups", headers=bearer(admin))
    with runtime.sessions() as session:
        assert session.scalars(select(ApiToken.last_used_at)).one() == start + timedelta(minutes=2)


def test_malformed_json_is_400(client, admin):
    response = client.put("/api/v1/calendar/overrides/2027-02-08", headers=bearer(admin), data="{workday: true",
                          content_type="application/json")
    assert response.status_code == 400 and error(response)["code"] == "malformed_json"


@pytest.mark.parametrize("body", ["[]", '"text"', "null", "3", "", '{"workday": NaN}', b"\xff\xfe"])
def test_a_body_that_is_not_a_json_object_is_400(client, admin, body):
    response = client.put("/api/v1/calendar/overrides/2027-02-08", headers=bearer(admin), data=body,
                          content_type="application/json")
    assert response.status_code == 400 and error(response)["code"] == "malformed_json"


def test_an_invalid_field_is_422_naming_it(client, admin):
    response = client.put("/api/v1/calendar/overrides/2027-02-08", headers=bearer(admin), json={"workday": "yes"})
    assert response.status_code == 422
    assert error(response) | {"errors": None} == {"code": "invalid", "field": "workday",
                                                  "message": "must be true or false", "errors": None}


def test_unknown_path_under_api_is_a_json_404(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404 and error(response)["code"] == "not_found"
    assert client.get("/api/v2/groups").mimetype == "application/json"


def test_unknown_method_is_a_json_405_with_allow(client, admin):
    response = client.delete("/api/v1/groups", headers=bearer(admin))
    assert response.status_code == 405 and error(response)["code"] == "method_not_allowed"
    assert "POST" in response.headers["Allow"] and "GET" in response.headers["Allow"]


def test_body_over_the_limit_is_a_json_413(client, admin, settings):
    response = client.post("/api/v1/groups", headers=bearer(admin), data=b"{" + b" " * settings.callback_max_bytes,
                           content_type="application/json")
    assert response.status_code == 413 and error(response)["code"] == "too_large"


def test_an_unexpected_failure_is_a_json_500_without_details(client, admin, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret-detail /srv/app.py line 3")

    monkeypatch.setattr("wecom_app.api.groups.paginate", broken)
    response = client.get("/api/v1/groups", headers=bearer(admin))
    assert response.status_code == 500 and error(response) == {"code": "internal", "field": None,
                                                               "message": "internal error"}
    assert "secret-detail" not in response.get_data(as_text=True)


def test_database_unavailable_is_a_json_503_without_the_sql(client, admin, monkeypatch):
    def down(*args, **kwargs):
        raise OperationalError("SELECT token_hash FROM api_token", {}, Exception("connection refused"))

    monkeypatch.setattr("wecom_app.api.groups.paginate", down)
    response = client.get("/api/v1/groups", headers=bearer(admin))
    assert response.status_code == 503 and error(response)["code"] == "unavailable"
    assert "SELECT" not in response.get_data(as_text=True)


def test_pages_outside_the_api_keep_their_own_errors(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404 and response.mimetype != "application/json"
