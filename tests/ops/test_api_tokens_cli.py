"""`wecom-app api-token create|list|revoke`: the token shown once on the last line, stored hashed."""

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from wecom_app.api_tokens import hash_token
from wecom_app.app import create_app
from wecom_app.cli import main
from wecom_app.models import ApiToken

from tests.conftest import AES_KEY, CORP_ID, SECRET, TOKEN, make_settings
from tests.plugins.api import bearer


@pytest.fixture
def env(db_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stray .env
    return {"WECOM_CORP_ID": CORP_ID, "WECOM_AGENT_ID": "1000002", "WECOM_SECRET": SECRET, "WECOM_TOKEN": TOKEN,
            "WECOM_AES_KEY": AES_KEY, "SECRET_KEY": "cli-test-secret-key-123", "DATABASE_URL": db_url}


def run(env, *args):
    return CliRunner().invoke(main, ["api-token", *args], env=env, catch_exceptions=False)


def test_create_prints_the_token_alone_on_the_last_line_and_stores_only_its_hash(env, runtime):
    result = run(env, "create", "--name", "hr-sync", "--role", "admin")
    assert result.exit_code == 0
    token = result.stdout.splitlines()[-1]
    assert token.startswith("wca_") and " " not in token
    with runtime.sessions() as session:
        row = session.scalars(select(ApiToken)).one()
    assert (row.name, row.role, row.userid, row.token_hash) == ("hr-sync", "admin", None, hash_token(token))
    client = create_app(make_settings(database_url=env["DATABASE_URL"]), runtime=runtime).test_client()
    assert client.get("/api/v1/groups", headers=bearer(token)).status_code == 200
    assert run(env, "revoke", "hr-sync").exit_code == 0
    assert client.get("/api/v1/groups", headers=bearer(token)).status_code == 401


def test_a_duplicate_name_is_refused(env):
    run(env, "create", "--name", "hr-sync", "--role", "readonly")
    result = run(env, "create", "--name", "hr-sync", "--role", "admin")
    assert result.exit_code != 0 and "already exists" in result.output
    assert "wca_" not in result.stdout


@pytest.mark.parametrize("args, hint", [
    (["--role", "owner"], "--role"),
    (["--role", "custodian"], "--userid"),
    (["--role", "issuer"], "--userid"),
    (["--role", "admin", "--userid", "lisi"], "--userid"),
    (["--role", "custodian", "--userid", "li si"], "--userid"),
])
def test_roles_and_userids_are_checked(env, args, hint):
    result = run(env, "create", "--name", "x", *args)
    assert result.exit_code == 2 and hint in result.output
    assert "wca_" not in result.stdout


def test_a_custodian_token_acts_as_a_person(env, runtime):
    result = run(env, "create", "--name", "lisi-bot", "--role", "custodian", "--userid", "LiSi")
    assert result.exit_code == 0 and "not in the directory mirror" in result.stderr
    with runtime.sessions() as session:
        assert session.scalars(select(ApiToken.userid)).one() == "lisi"


def test_list_shows_names_roles_and_state_but_never_a_token(env):
    tokens = [run(env, "create", "--name", name, "--role", "readonly").stdout.splitlines()[-1] for name in "ab"]
    run(env, "revoke", "b")
    listing = run(env, "list").output
    assert "a " in listing and "active" in listing and "revoked" in listing
    assert not any(token in listing or hash_token(token) in listing for token in tokens)


def test_revoke_unknown_fails_and_revoke_twice_is_harmless(env):
    result = run(env, "revoke", "nope")
    assert result.exit_code == 1 and "no token named 'nope'" in result.output
    run(env, "create", "--name", "a", "--role", "readonly")
    assert run(env, "revoke", "a").exit_code == 0
    again = run(env, "revoke", "a")
    assert again.exit_code == 0 and "already revoked" in again.output
