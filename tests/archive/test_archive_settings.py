"""The conversation archive's settings: all three or none, each bad one named on its own
line, the secret never printed (DESIGN §3); the private keys by publickey_ver."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.conftest import make_settings
from tests.ops.test_settings import GOOD
from wecom_app.archive.keys import ANY_VERSION, KeyFileError, UnknownKeyVersion, load_private_keys
from wecom_app.archive.sdk import EmulatorSdk, FinanceSdk, open_archive_sdk
from wecom_app.config import SettingsError, load_settings

ARCHIVE_SECRET = "archive-secret-value-never-printed"


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key, password: bytes | None = None) -> bytes:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


@pytest.fixture
def key_file(tmp_path, rsa_key):
    path = tmp_path / "archive.pem"
    path.write_bytes(pem(rsa_key))
    return path


def problems(env) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        load_settings(dict(GOOD, **env), env_file=None)
    assert ARCHIVE_SECRET not in str(caught.value)
    return caught.value.problems


def test_all_empty_is_archive_off():
    settings = load_settings(GOOD, env_file=None)
    assert not settings.archive_enabled and open_archive_sdk(settings) is None


def test_all_three_turn_the_archive_on_without_showing_the_secret(key_file):
    settings = load_settings(dict(GOOD, WECOM_ARCHIVE_SECRET=ARCHIVE_SECRET, WECOM_ARCHIVE_PRIVATE_KEYS=str(key_file),
                                  WECOM_FINANCE_SDK="emulator"), env_file=None)
    assert settings.archive_enabled and ARCHIVE_SECRET not in repr(settings)
    sdk = open_archive_sdk(settings)
    assert isinstance(sdk, EmulatorSdk) and ARCHIVE_SECRET not in repr(sdk)


def test_one_setting_without_the_others_names_what_is_missing():
    found = problems(dict(WECOM_ARCHIVE_SECRET=ARCHIVE_SECRET))
    assert [p.split(":")[0] for p in found] == ["WECOM_ARCHIVE_PRIVATE_KEYS", "WECOM_FINANCE_SDK"]
    assert all("WECOM_ARCHIVE_SECRET is set" in p for p in found)


def test_finance_sdk_must_be_a_readable_library_or_emulator(tmp_path, key_file):
    text_file = tmp_path / "libWeWorkFinanceSdk_C.so"
    text_file.write_text("not a library")
    base = dict(WECOM_ARCHIVE_SECRET=ARCHIVE_SECRET, WECOM_ARCHIVE_PRIVATE_KEYS=str(key_file))
    [missing] = problems(dict(base, WECOM_FINANCE_SDK=str(tmp_path / "nowhere.so")))
    assert missing.startswith("WECOM_FINANCE_SDK:") and "no such file" in missing
    [not_elf] = problems(dict(base, WECOM_FINANCE_SDK=str(text_file)))
    assert "is not a shared library" in not_elf


@pytest.mark.parametrize("case, expected", [
    ("missing", "no file or directory"),
    ("not_pem", "is not a PEM private key"),
    ("encrypted", "encrypted with a passphrase"),
    ("not_rsa", "is not an RSA private key"),
    ("empty_dir", "holds no <publickey_ver>.pem file"),
    ("misnamed", "is not named <publickey_ver>.pem"),
])
def test_bad_private_keys_get_one_clear_line_each(tmp_path, rsa_key, case, expected):
    path = tmp_path / "keys"
    if case == "not_pem":
        path.write_text("-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5\n-----END RSA PRIVATE KEY-----\n")
    elif case == "encrypted":
        path.write_bytes(pem(rsa_key, b"passphrase"))
    elif case == "not_rsa":
        path.write_bytes(pem(ec.generate_private_key(ec.SECP256R1())))
    elif case in ("empty_dir", "misnamed"):
        path.mkdir()
        if case == "misnamed":
            (path / "current.pem").write_bytes(pem(rsa_key))
    found = problems(dict(WECOM_ARCHIVE_SECRET=ARCHIVE_SECRET, WECOM_ARCHIVE_PRIVATE_KEYS=str(path),
                          WECOM_FINANCE_SDK="emulator"))
    assert len(found) == 1 and found[0].startswith("WECOM_ARCHIVE_PRIVATE_KEYS:") and expected in found[0]
    assert "PRIVATE KEY" not in found[0].split(expected)[0]  # the key's text is never echoed


def test_a_directory_holds_keys_by_version_and_a_single_file_serves_its_own(tmp_path, rsa_key):
    folder = tmp_path / "keys"
    folder.mkdir()
    for name in ("1.pem", "3.pem"):
        (folder / name).write_bytes(pem(rsa_key))
    assert load_private_keys(folder).versions == [1, 3]
    with pytest.raises(UnknownKeyVersion):
        load_private_keys(folder).key_for(2)
    assert load_private_keys(folder / "3.pem").versions == [3]
    plain = tmp_path / "archive.pem"
    plain.write_bytes(pem(rsa_key))
    only = load_private_keys(plain)
    assert only.versions == [ANY_VERSION] and only.key_for(7) is only.key_for(1)
    assert "PRIVATE" not in repr(only)


def test_a_library_path_opens_the_finance_sdk(monkeypatch, key_file):
    opened = []
    monkeypatch.setattr(FinanceSdk, "__init__", lambda self, *args, **kw: opened.append(args) or None)
    sdk = open_archive_sdk(make_settings(archive_secret=ARCHIVE_SECRET, archive_private_keys=str(key_file),
                                         finance_sdk="/opt/wecom/libWeWorkFinanceSdk_C.so"))
    assert isinstance(sdk, FinanceSdk) and opened[0][0] == "/opt/wecom/libWeWorkFinanceSdk_C.so"


def test_key_file_error_lists_every_bad_file(tmp_path):
    folder = tmp_path / "keys"
    folder.mkdir()
    (folder / "1.pem").write_text("junk")
    (folder / "old.pem").write_text("junk")
    with pytest.raises(KeyFileError) as caught:
        load_private_keys(folder)
    assert len(caught.value.problems) == 2
