"""Hostile numbers, NUL bytes and deep JSON (issue 10 item 7), on SQLite and PostgreSQL: an id no
row can have is a 404, a bad page or filter a 422 naming the field (the workbench's 400 page), a
too-deep JSON body a 400, and a database error that is not an outage is never a 503."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DataError, OperationalError, ProgrammingError

from tests.plugins.workbench import csrf_of, login
from wecom_app.api import groups as api_groups

from tests.plugins.api import bearer, error, issue_token

pytestmark = pytest.mark.both_databases  # numbers beyond PostgreSQL's integer columns, database errors

HUGE = "99999999999999999999"  # beyond bigint: PostgreSQL and Python's sqlite3 driver both refuse it


@pytest.fixture
def admin(runtime):
    return issue_token(runtime, "admin", name="office")


# -- the API --------------------------------------------------------------------------------------

def test_an_id_beyond_the_database_range_is_404_in_the_error_shape(client, admin):
    for path in (f"/api/v1/groups/{HUGE}", f"/api/v1/directives/{HUGE}", "/api/v1/groups/2147483648",
                 f"/api/v1/violations/{HUGE}", f"/api/v1/announcements/{HUGE}", f"/api/v1/sensitive-words/{HUGE}",
                 f"/api/v1/directives/{HUGE}/receipts.xlsx", "/api/v1/groups/١٢", "/api/v1/groups/" + "9" * 5000):
        response = client.get(path, headers=bearer(admin))
        assert response.status_code == 404 and error(response)["code"] == "not_found", path


def test_a_bad_page_or_filter_is_422_naming_it(client, admin):
    for query, field in ((f"page={HUGE}", "page"), ("page=²", "page"), ("page=١", "page"),
                         (f"per_page={HUGE}", "per_page"), ("page=" + "1" * 5000, "page"), (f"group={HUGE}", "group"),
                         ("group=²", "group"), ("group=2147483648", "group"), ("userid=a%00b", "userid"),
                         ("rule=R3%00", "rule")):
        response = client.get(f"/api/v1/violations?{query}", headers=bearer(admin))
        assert response.status_code == 422 and error(response)["field"] == field, query


def test_nul_and_huge_pages_on_every_list_are_422(client, admin):
    for path, field in (("/api/v1/groups?custodian=li%00si", "custodian"), ("/api/v1/directives?issuer=a%00b", "issuer"),
                        (f"/api/v1/groups?page={HUGE}", "page"), (f"/api/v1/directives?page={HUGE}", "page")):
        response = client.get(path, headers=bearer(admin))
        assert response.status_code == 422 and error(response)["field"] == field, path


def test_a_json_body_nested_100000_deep_is_400(client, admin):
    for path in ("/api/v1/groups", "/api/v1/directives", "/api/v1/announcements", "/api/v1/groups/register"):
        response = client.post(path, data="[" * 100_000 + "]" * 100_000, content_type="application/json",
                               headers=bearer(admin))
        assert response.status_code == 400 and error(response)["code"] == "malformed_json", path


def _failing_with(exc):
    def paginate(*_args, **_kwargs):
        raise exc
    return paginate


@pytest.mark.parametrize("exc, status, code", [
    (DataError("SELECT 1", {}, ValueError("integer out of range")), 422, "invalid"),
    (ProgrammingError("SELECT 1", {}, ValueError("argument of OFFSET must be type bigint")), 500, "internal"),
    (OperationalError("SELECT 1", {}, ConnectionError("connection refused")), 503, "unavailable"),
])
def test_only_an_outage_is_503_database_unavailable(client, admin, monkeypatch, exc, status, code):
    monkeypatch.setattr(api_groups, "paginate", _failing_with(exc))
    response = client.get("/api/v1/groups", headers=bearer(admin))
    assert response.status_code == status and error(response)["code"] == code
    assert ("Retry-After" in response.headers) == (status == 503)


# -- the workbench ---------------------------------------------------------------------------------

@pytest.fixture
def admin_client(wb, sandbox_state):
    client = wb.test_client()
    login(client, sandbox_state, "zhangwei")
    return client


def test_workbench_an_id_beyond_the_database_range_is_its_404_page(admin_client):
    for path in (f"/directives/{HUGE}", f"/groups/{HUGE}", f"/violations/{HUGE}", f"/announcements/{HUGE}",
                 f"/directives/{HUGE}/receipts", "/groups/2147483648"):
        response = admin_client.get(path)
        assert response.status_code == 404 and "找不到页面" in response.text, path


def test_workbench_a_bad_page_or_a_nul_is_its_400_page_and_a_bad_filter_no_filter(admin_client):
    for path in (f"/violations?page={HUGE}", "/violations?page=²", f"/groups?page={HUGE}", "/groups?q=a%00b",
                 "/audit?actor=a%00b", "/audit?person=a%00b", "/audit.csv?group=a%00b", "/violations?status=open%00"):
        response = admin_client.get(path)
        assert response.status_code == 400 and "请求无效" in response.text, path
    for path in (f"/violations?group={HUGE}", "/violations?group=²"):  # the queue ignores a filter it cannot use
        assert admin_client.get(path).status_code == 200, path
    for department in (HUGE, "²"):  # the assessments page names it at the field
        response = admin_client.get(f"/assessments?department={department}")
        assert response.status_code == 400 and "没有这个部门" in response.text, department


def test_workbench_a_form_naming_an_id_beyond_range_is_refused_at_the_field(admin_client):
    token = csrf_of(admin_client.get("/groups/new").text)
    response = admin_client.post("/groups/new", data={"csrf_token": token, "name": "测试群", "owner": "zhangwei",
                                                      "custodian": "zhangwei", "departments": [HUGE]})
    assert response.status_code in (200, 422) and "找不到页面" not in response.text
    response = admin_client.post("/groups/new", data={"csrf_token": token, "name": "a\x00b"})
    assert response.status_code == 400 and "请求无效" in response.text
