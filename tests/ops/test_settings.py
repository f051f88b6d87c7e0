"""Settings: every bad variable named at once, secrets never echoed (DESIGN §3)."""

import pytest

from wecom_app.config import SettingsError, load_settings, parse_work_hours

GOOD = {
    "WECOM_CORP_ID": "ww1436e0e65a779aee", "WECOM_AGENT_ID": "1000002", "WECOM_SECRET": "s3cr3t-value-xyz",
    "WECOM_TOKEN": "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo", "WECOM_AES_KEY": "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt",
    "SECRET_KEY": "a-long-random-session-key",
}


def test_good_environment_gives_defaults_from_the_design():
    s = load_settings(GOOD, env_file=None)
    assert s.agent_id == 1000002
    assert s.api_base == "https://qyapi.weixin.qq.com/cgi-bin/"
    assert s.database_url == "sqlite:///instance/wecom_app.db"
    assert s.timezone == "Asia/Shanghai" and len(s.work_hours) == 2
    assert "s3cr3t" not in repr(s)


def test_every_missing_variable_is_named_at_once():
    with pytest.raises(SettingsError) as caught:
        load_settings({}, env_file=None)
    named = {p.split(":")[0] for p in caught.value.problems}
    assert named == {"WECOM_CORP_ID", "WECOM_AGENT_ID", "WECOM_SECRET", "WECOM_TOKEN", "WECOM_AES_KEY", "SECRET_KEY"}


def test_malformed_values_are_each_reported_without_echoing_secrets():
    bad = dict(GOOD, WECOM_AGENT_ID="abc", WECOM_AES_KEY="tooshort-secret-material", WORK_HOURS="18:00-09:00",
               TIMEZONE="Mars/Base", DATABASE_URL="mysql://x", WECOM_API_BASE="ftp://x", WECOM_ADMINS="ok,bad user")
    with pytest.raises(SettingsError) as caught:
        load_settings(bad, env_file=None)
    text = str(caught.value)
    for name in ("WECOM_AGENT_ID", "WECOM_AES_KEY", "WORK_HOURS", "TIMEZONE", "DATABASE_URL", "WECOM_API_BASE",
                 "WECOM_ADMINS"):
        assert name in text
    assert "tooshort-secret-material" not in text


def test_contact_callback_settings_come_in_pairs():
    with pytest.raises(SettingsError, match="set both or neither"):
        load_settings(dict(GOOD, WECOM_CONTACT_TOKEN="abc"), env_file=None)


def test_env_file_is_read_and_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("\n".join(f"{k}={v}" for k, v in GOOD.items()) + "\nWECOM_AGENT_ID=7\n")
    assert load_settings({}, env_file=env_file).agent_id == 7
    assert load_settings({"WECOM_AGENT_ID": "8"}, env_file=env_file).agent_id == 8


def test_postgres_urls_use_psycopg3():
    s = load_settings(dict(GOOD, DATABASE_URL="postgresql://u:p@h/db"), env_file=None)
    assert s.database_url == "postgresql+psycopg://u:p@h/db"


@pytest.mark.parametrize("text", ["9:00-12:00", "12:00-09:00", "09:00-12:00,11:00-13:00", "25:00-26:00", ""])
def test_work_hours_rejects_bad_windows(text):
    with pytest.raises(ValueError):
        parse_work_hours(text)


def test_env_example_documents_every_setting_the_code_reads():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    source = (root / "wecom_app" / "config.py").read_text()
    read = set(re.findall(r'(?:env\.get\(|required\(|_int\(env, )"([A-Z_]+)"', source))
    read |= set(re.findall(r'"([A-Z]+(?:_[A-Z]+)+)"', source))  # names read in loops
    documented = set(re.findall(r"^([A-Z_]+)=", (root / ".env.example").read_text(), re.M))
    assert read and read == documented


def test_naming_patterns_must_compile():
    with pytest.raises(SettingsError, match="REAL_NAME_PATTERN: not a valid regular expression"):
        load_settings(dict(GOOD, REAL_NAME_PATTERN="([a-z"), env_file=None)
    assert load_settings(dict(GOOD, GROUP_NAME_PATTERN=r"^.{2,10}-.+$"), env_file=None).group_name_pattern


def test_sanction_ladder_is_validated():
    with pytest.raises(SettingsError, match="SANCTION_LADDER: 'mute' is not"):
        load_settings(dict(GOOD, SANCTION_LADDER="warning,mute,removal"), env_file=None)
    assert load_settings(dict(GOOD, SANCTION_LADDER=" warning , temporary_removal:3 "),
                         env_file=None).sanction_ladder == "warning,temporary_removal:3"
