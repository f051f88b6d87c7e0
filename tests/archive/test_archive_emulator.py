"""The archive end to end against the emulator's stand-in: encrypted in the emulator →
get_chat_data → decrypt_random_key → decrypt_data → the message JSON of 91774; and its
failures (wrong secret, corrupted or unknown-version random key, garbage for DecryptData,
limit over 1000, WeCom down, content older than 5 days), plus msgaudit/* (91614, 92951)."""

from __future__ import annotations

import base64
import json

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.plugins.sandbox import CORP_ID, SECRET
from wecom_app.archive.keys import PrivateKeys, RandomKeyError, UnknownKeyVersion, load_private_keys
from wecom_app.archive.sdk import (
    ArchiveApiError,
    BadEncryptKey,
    BadParameter,
    DecryptFailed,
    EmulatorSdk,
    NetworkError,
    SdkError,
)
from wecom_app.sandbox.emulator.archive import enable_archive

ARCHIVE_SECRET = "test-archive-secret-0123456789"
ROOM = "wrArchiveRoom0000000000000001"


@pytest.fixture(scope="module")
def rsa_keys():
    return {ver: rsa.generate_private_key(public_exponent=65537, key_size=2048) for ver in (1, 2)}


@pytest.fixture
def archive(sandbox_state, rsa_keys):
    """The emulator holds both public keys and archives under version 1; the app has key 1 only."""
    archive = enable_archive(sandbox_state, ARCHIVE_SECRET, {v: k.public_key() for v, k in rsa_keys.items()})
    archive.publickey_ver = 1
    archive.permit_users(["wangfang", "lina"], edition=1)
    archive.permit_users(["pengfei"], edition=3)
    archive.add_room(ROOM, "项目一组", "wangfang", ["wangfang", "lina", "pengfei", "gaoping"], notice="项目沟通")
    return archive


@pytest.fixture
def private_keys(tmp_path, rsa_keys) -> PrivateKeys:
    folder = tmp_path / "keys"
    folder.mkdir()
    (folder / "1.pem").write_bytes(rsa_keys[1].private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))
    return load_private_keys(folder)


@pytest.fixture
def sdk(emulator_url, archive):
    sdk = EmulatorSdk(emulator_url, CORP_ID, ARCHIVE_SECRET)
    yield sdk
    sdk.close()


def read(sdk, private_keys, record) -> dict:
    key = private_keys.decrypt_random_key(record["publickey_ver"], record["encrypt_random_key"])
    return json.loads(sdk.decrypt_data(key, record["encrypt_chat_msg"]))


def test_archived_text_travels_encrypted_and_reads_as_91774_shows_it(sdk, archive, private_keys, sandbox_clock):
    archive.post(ROOM, "lina", "请各位周五前提交周报")
    data = sdk.get_chat_data(0, 100, 5)
    [record] = data["chatdata"]
    assert set(record) == {"seq", "msgid", "publickey_ver", "encrypt_random_key", "encrypt_chat_msg"}
    assert "周报" not in json.dumps(record, ensure_ascii=False)
    message = read(sdk, private_keys, record)
    assert message == {"msgid": record["msgid"], "action": "send", "from": "lina",
                       "tolist": ["wangfang", "pengfei", "gaoping"], "roomid": ROOM,
                       "msgtime": int(sandbox_clock() * 1000), "msgtype": "text",
                       "text": {"content": "请各位周五前提交周报"}}


def test_seq_is_a_cursor_and_limit_a_page(sdk, archive):
    for n in range(5):
        archive.post(ROOM, "wangfang", f"第{n}条")
    assert [r["seq"] for r in sdk.get_chat_data(0, 2, 5)["chatdata"]] == [1, 2]
    assert [r["seq"] for r in sdk.get_chat_data(2, 2, 5)["chatdata"]] == [3, 4]
    assert sdk.get_chat_data(5, 1000, 5)["chatdata"] == []


@pytest.mark.parametrize("limit", [0, 1001])
def test_limit_outside_1_to_1000_is_the_sdks_bad_parameter(sdk, limit):
    with pytest.raises(BadParameter) as caught:
        sdk.get_chat_data(0, limit, 5)
    assert caught.value.code == 10000


def test_a_long_text_and_control_characters_survive(sdk, archive, private_keys):
    long_text = "机密" * 25_000 + "\x00\x07\x1b[31m\u202e"
    archive.post(ROOM, "lina", long_text)
    [record] = sdk.get_chat_data(0, 10, 5)["chatdata"]
    assert read(sdk, private_keys, record)["text"]["content"] == long_text


def test_messages_of_members_out_of_the_archives_scope_are_not_archived(sdk, archive):
    archive.add_room("wrOutOfScope", "闲聊", "gaoping", ["gaoping", "tony"])
    assert archive.post("wrOutOfScope", "gaoping", "无人存档") is None
    assert sdk.get_chat_data(0, 10, 5)["chatdata"] == []


def test_content_older_than_five_days_is_no_longer_served(sdk, archive, sandbox_clock):
    archive.post(ROOM, "lina", "旧消息")
    sandbox_clock.advance(5 * 86400 + 1)
    archive.post(ROOM, "lina", "新消息")
    assert [r["seq"] for r in sdk.get_chat_data(0, 10, 5)["chatdata"]] == [2]


def test_the_apps_secret_is_wecoms_48002_and_never_echoed(emulator_url, archive, sandbox_state):
    with pytest.raises(ArchiveApiError) as caught:
        EmulatorSdk(emulator_url, CORP_ID, SECRET).get_chat_data(0, 10, 5)
    assert caught.value.errcode == 48002 and not caught.value.transient and SECRET not in str(caught.value)
    logged = json.dumps(sandbox_state.calls("finance/getchatdata"))
    assert "***" in logged and SECRET not in logged


@pytest.mark.parametrize("corpid, secret", [(CORP_ID, "not-the-archive-secret"),
                                            ("wwsomeoneelse000000", ARCHIVE_SECRET)])
def test_an_unknown_secret_or_corpid_is_the_sdks_network_error_as_the_library_says_it(
        emulator_url, archive, sandbox_state, corpid, secret):
    with pytest.raises(NetworkError) as caught:
        EmulatorSdk(emulator_url, corpid, secret).get_chat_data(0, 10, 5)
    assert caught.value.code == 10001 and secret not in str(caught.value)
    assert secret not in json.dumps(sandbox_state.calls("finance/getchatdata"))


def test_wecom_down_is_the_sdks_network_error(sdk, archive, sandbox_state):
    sandbox_state.faults.add("finance/getchatdata", "http_error", status=503)
    with pytest.raises(NetworkError) as caught:
        sdk.get_chat_data(0, 10, 5)
    assert caught.value.transient


def test_unreachable_emulator_is_a_network_error():
    with pytest.raises(NetworkError):
        EmulatorSdk("http://127.0.0.1:9/cgi-bin/", CORP_ID, ARCHIVE_SECRET).get_chat_data(0, 10, 2)


def test_missing_key_version_is_a_typed_error_naming_the_version(sdk, archive, private_keys):
    archive.post(ROOM, "lina", "新公钥加密的消息", publickey_ver=2)
    [record] = sdk.get_chat_data(0, 10, 5)["chatdata"]
    assert record["publickey_ver"] == 2
    with pytest.raises(UnknownKeyVersion) as caught:
        private_keys.decrypt_random_key(2, record["encrypt_random_key"])
    assert caught.value.version == 2


def test_corrupted_random_key_cannot_be_read(sdk, archive, private_keys):
    archive.post(ROOM, "lina", "被篡改")
    [record] = sdk.get_chat_data(0, 10, 5)["chatdata"]
    with pytest.raises(RandomKeyError):
        private_keys.decrypt_random_key(1, "not base64!")
    with pytest.raises(RandomKeyError):
        private_keys.decrypt_random_key(1, base64.b64encode(b"too short").decode())
    flipped = bytearray(base64.b64decode(record["encrypt_random_key"]))
    flipped[10] ^= 0xFF
    # OpenSSL answers a bad block with random bytes ("implicit rejection"): either the key
    # does not look like one, or DecryptData refuses what it opens
    with pytest.raises((RandomKeyError, DecryptFailed)):
        read(sdk, private_keys, dict(record, encrypt_random_key=base64.b64encode(bytes(flipped)).decode()))


def test_decrypt_data_failing_is_the_sdks_error(sdk, archive, private_keys):
    archive.post(ROOM, "lina", "两条消息")
    archive.post(ROOM, "lina", "两把钥匙")
    first, second = sdk.get_chat_data(0, 10, 5)["chatdata"]
    other_key = private_keys.decrypt_random_key(1, second["encrypt_random_key"])
    with pytest.raises(DecryptFailed):
        sdk.decrypt_data(other_key, first["encrypt_chat_msg"])
    with pytest.raises(BadEncryptKey):
        sdk.decrypt_data(other_key, "this is not an encrypted message")
    with pytest.raises(BadParameter):
        sdk.decrypt_data("", first["encrypt_chat_msg"])


def test_the_decrypted_random_key_never_reaches_the_call_log(sdk, archive, private_keys, sandbox_state):
    archive.post(ROOM, "lina", "看不见的钥匙")
    [record] = sdk.get_chat_data(0, 10, 5)["chatdata"]
    key = private_keys.decrypt_random_key(1, record["encrypt_random_key"])
    read(sdk, private_keys, record)
    assert key not in json.dumps(sandbox_state.calls("finance/decryptdata"))


@pytest.fixture
def archive_token(emulator_url, archive) -> str:
    answer = requests.get(emulator_url + "gettoken", params=dict(corpid=CORP_ID, corpsecret=ARCHIVE_SECRET),
                          timeout=5).json()
    return answer["access_token"]


def post(emulator_url, path, token, payload) -> dict:
    return requests.post(emulator_url + path, params=dict(access_token=token), json=payload, timeout=5).json()


def test_permit_user_list_names_the_archived_members_by_edition(emulator_url, archive_token):
    everyone = post(emulator_url, "msgaudit/get_permit_user_list", archive_token, {})
    assert everyone["errcode"] == 0 and sorted(everyone["ids"]) == ["lina", "pengfei", "wangfang"]
    office = post(emulator_url, "msgaudit/get_permit_user_list", archive_token, {"type": 1})
    assert sorted(office["ids"]) == ["lina", "wangfang"]


def test_groupchat_get_names_an_internal_groups_members_and_join_times(emulator_url, archive_token, sandbox_clock):
    room = post(emulator_url, "msgaudit/groupchat/get", archive_token, {"roomid": ROOM})
    assert room["errcode"] == 0
    assert (room["roomname"], room["creator"], room["notice"]) == ("项目一组", "wangfang", "项目沟通")
    assert room["room_create_time"] == int(sandbox_clock())
    assert room["members"][0] == {"memberid": "wangfang", "jointime": int(sandbox_clock())}
    assert len(room["members"]) == 4


def test_groupchat_get_of_a_room_that_is_no_internal_group_is_refused(emulator_url, archive_token):
    answer = post(emulator_url, "msgaudit/groupchat/get", archive_token, {"roomid": "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA"})
    assert answer["errcode"] == 301059


def test_msgaudit_apis_take_only_the_archives_token(emulator_url, emulator_token, archive_token):
    assert post(emulator_url, "msgaudit/get_permit_user_list", emulator_token, {})["errcode"] == 48002
    answer = post(emulator_url, "message/send", archive_token,
                  {"touser": "lina", "msgtype": "text", "agentid": 1000002, "text": {"content": "x"}})
    assert answer["errcode"] == 48002


def test_sdk_errors_are_typed_by_code():
    from wecom_app.archive.sdk import SDK_ERRORS, sdk_error

    assert sorted(SDK_ERRORS) == list(range(10000, 10012))
    assert isinstance(sdk_error(10009), SdkError) and sdk_error(10009).code == 10009
    assert sdk_error(10123).code == 10123  # an unlisted code keeps its number
