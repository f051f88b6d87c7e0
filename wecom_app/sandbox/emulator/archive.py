"""The emulated conversation archive (会话内容存档): a stand-in for the Finance SDK and the
archive's two HTTP APIs.

WeCom serves archived messages only through its C library (document/path/91774); the
emulator offers the library's two calls over HTTP instead (DESIGN.md §3), so that
`WECOM_FINANCE_SDK=emulator` runs the app's whole pull against it:

- `POST /cgi-bin/finance/getchatdata {"corpid", "secret", "seq", "limit"}` → `{"errcode",
  "errmsg", "chatdata": [{"seq", "msgid", "publickey_ver", "encrypt_random_key",
  "encrypt_chat_msg"}]}`, the records after `seq`. The library refuses a limit of 0 or over
  1000 itself with 10000 ("最大值1000条，超过1000条会返回错误", its header; seen with the
  real library, tests/test_archive_sdk.py). A secret that is not the archive's: the app's or
  the 通讯录同步 one gets a token, and WeCom answers 48002 inside the JSON
  (binarywang/WxJava#2833 shows `{"errcode":48002,"errmsg":"api forbidden..."}`); any other
  secret or corpid fails gettoken, which the real library swallows (it prints gettoken's
  answer to its standard output) and reports as 10001, exactly like a network failure
  (seen with the real library: tests/test_archive_sdk.py). The stand-in answers 10001 too,
  so the app must tell a wrong secret from an outage by calling gettoken itself.
  Content older than 5 days is not served ("获取会话记录内容不能超过5天", 91774).
- `POST /cgi-bin/finance/decryptdata {"encrypt_key", "encrypt_msg"}` → `{"errcode": 0,
  "errmsg": "ok", "msg": "<the message JSON>"}`; garbage → 10008 (what the real library
  answers garbage with), a well-formed message under another key → 10006 (UNCONFIRMED).
- `POST /cgi-bin/msgaudit/get_permit_user_list {"type"?}` → `{"ids": [...]}` (91614): the
  members in the archive's scope, optionally of one edition (1 办公版, 2 服务版, 3 企业版).
- `POST /cgi-bin/msgaudit/groupchat/get {"roomid"}` → roomname, creator,
  room_create_time, notice, members [{memberid, jointime}] (92951); a roomid that is not an
  internal group answers 301059 (shared/wecom-api-notes.md §6; the code is UNCONFIRMED).
  Both take an access token made from the archive's secret; any other token 48002
  (binarywang/WxJava#3868: the permit list refused with the app's secret).

Encryption is real: the emulator holds the company's RSA public keys by `publickey_ver`,
encrypts a fresh random key per record with PKCS#1 v1.5 (as 91774 says), and encrypts the
message JSON with that random key. WeCom's inner cipher (what DecryptData reverses) is not
public: UNCONFIRMED — the stand-in uses AES-256-GCM under SHA-256(random key), which only
its own decryptdata reverses; the app never depends on it.

Python: `archive = enable_archive(state, secret, {1: public_key})`, `archive.add_room(...)`,
`archive.post(roomid, sender, "text")`.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
import os
import secrets
import string
import threading

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask, g

from wecom_app.sandbox.emulator.api import ApiError, body, ok

MAX_LIMIT = 1000
RETENTION = 5 * 86400  # "获取会话记录内容不能超过5天" (91774)
NOT_INTERNAL_GROUP = 301059
SDK_BAD_PARAMETER, SDK_NETWORK_ERROR, SDK_DECRYPT_FAILED, SDK_BAD_ENCRYPT_KEY = 10000, 10001, 10006, 10008
_AAD = b"wecom-emulator-archive"  # the stand-in's own scheme; not WeCom's
_KEY_ALPHABET = string.ascii_letters + string.digits


class EmulatedArchive:
    """The archive of one corp: its secret, public keys, scope, internal groups and records."""

    def __init__(self, state, secret: str, public_keys: dict[int, rsa.RSAPublicKey]):
        self.state = state
        self.secret = secret
        self.public_keys = dict(public_keys)
        self.publickey_ver = max(self.public_keys)  # the newest upload encrypts new records
        self.permit: dict[str, int] = {}  # userid → edition (1 办公版, 2 服务版, 3 企业版)
        self.rooms: dict[str, dict] = {}  # roomid → msgaudit/groupchat/get's answer
        self.records: list[dict] = []  # chatdata in seq order, plus "archived_at" (not served)
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"EmulatedArchive(versions={sorted(self.public_keys)}, records={len(self.records)})"

    def permit_users(self, userids, edition: int = 3) -> None:
        with self._lock:
            self.permit.update({u.lower(): edition for u in userids})

    def add_room(self, roomid: str, roomname: str, creator: str, members, *, notice: str = "",
                 created_at: float | None = None) -> dict:
        """An internal group created in the client; `members` userids or (userid, jointime)."""
        created = int(self.state.now() if created_at is None else created_at)
        listed = [dict(memberid=m, jointime=created) if isinstance(m, str) else dict(memberid=m[0], jointime=int(m[1]))
                  for m in members]
        with self._lock:
            self.rooms[roomid] = dict(roomname=roomname, creator=creator, room_create_time=created,
                                      notice=notice, members=listed)
            return self.rooms[roomid]

    def post(self, roomid: str, sender: str, content: str = "", *, msgtype: str = "text", fields: dict | None = None,
             at: float | None = None, publickey_ver: int | None = None) -> dict | None:
        """A message sent in an internal group, archived as 91774 shows it (msgtime in
        milliseconds); None when neither its sender nor a recipient is in the archive's
        scope (UNCONFIRMED: WeCom archives the chats of members in scope)."""
        with self._lock:
            room = self.rooms[roomid]
            tolist = [m["memberid"] for m in room["members"] if m["memberid"] != sender]
            if sender.lower() not in self.permit and not any(u.lower() in self.permit for u in tolist):
                return None
            now = self.state.now() if at is None else at
            msgid = f"{secrets.randbelow(10 ** 19)}_{int(now)}"
            message = dict(msgid=msgid, action="send", **{"from": sender}, tolist=tolist, roomid=roomid,
                           msgtime=int(now * 1000), msgtype=msgtype)
            message.update(fields if fields is not None else {msgtype: {"content": content}})
            return self.archive(message, archived_at=now, publickey_ver=publickey_ver)

    def archive(self, message: dict, *, archived_at: float, publickey_ver: int | None = None) -> dict:
        """Encrypt one message JSON as a chatdata record and append it with the next seq."""
        ver = self.publickey_ver if publickey_ver is None else publickey_ver
        random_key = "".join(secrets.choice(_KEY_ALPHABET) for _ in range(32))
        encrypt_random_key = self.public_keys[ver].encrypt(random_key.encode(), padding.PKCS1v15())
        with self._lock:
            record = dict(seq=len(self.records) + 1, msgid=message["msgid"], publickey_ver=ver,
                          encrypt_random_key=base64.b64encode(encrypt_random_key).decode(),
                          encrypt_chat_msg=seal(random_key, json.dumps(message, ensure_ascii=False)),
                          archived_at=archived_at)
            self.records.append(record)
            return record

    def after(self, seq: int, limit: int) -> list[dict]:
        """Up to `limit` records after `seq` (records[i] has seq i + 1), skipping expired ones."""
        oldest = self.state.now() - RETENTION
        page = []
        with self._lock:
            for index in range(seq, len(self.records)):
                if len(page) == limit:
                    break
                record = self.records[index]
                if record["archived_at"] >= oldest:
                    page.append({k: v for k, v in record.items() if k != "archived_at"})
        return page


def seal(random_key: str, plaintext: str) -> str:
    """The stand-in's inner cipher (WeCom's is not public): AES-256-GCM, nonce first, base64."""
    nonce = os.urandom(12)
    sealed = AESGCM(hashlib.sha256(random_key.encode()).digest()).encrypt(nonce, plaintext.encode(), _AAD)
    return base64.b64encode(nonce + sealed).decode()


def unseal(random_key: str, encrypt_msg: str) -> str:
    """`seal` reversed; ApiError with the SDK's code when it cannot be."""
    try:
        raw = base64.b64decode(encrypt_msg, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(SDK_BAD_ENCRYPT_KEY, "encrypt_msg is not base64") from None
    if len(raw) < 12 + 16:
        raise ApiError(SDK_BAD_ENCRYPT_KEY, "encrypt_msg too short")
    try:
        plain = AESGCM(hashlib.sha256(random_key.encode()).digest()).decrypt(raw[:12], raw[12:], _AAD)
    except InvalidTag:
        raise ApiError(SDK_DECRYPT_FAILED, "encrypt_key does not open encrypt_msg") from None
    return plain.decode()


def enable_archive(state, secret: str, public_keys: dict[int, rsa.RSAPublicKey]) -> EmulatedArchive:
    """The company bought the archive: its secret issues "archive" tokens from now on."""
    if not public_keys:
        raise ValueError("the archive needs at least one public key")
    with state.lock:
        state.archive = EmulatedArchive(state, secret, public_keys)
        state.secrets[secret] = "archive"
        # GetChatData: 4,000 calls a minute (shared/wecom-api-notes.md §6)
        state.api_limit_overrides["finance/getchatdata"] = {"minute": 4000, "hour": 240000}
        return state.archive


SDK_PATHS = ("finance/getchatdata", "finance/decryptdata")  # no access_token: the SDK takes corpid + secret
LOCAL_CALLS = ("finance/decryptdata",)  # DecryptData runs inside the real library: no WeCom rate limit


def register(app: Flask, state) -> None:
    for path, view in (("finance/getchatdata", get_chat_data), ("finance/decryptdata", decrypt_data),
                       ("msgaudit/get_permit_user_list", get_permit_user_list),
                       ("msgaudit/groupchat/get", groupchat_get)):
        app.add_url_rule(f"/cgi-bin/{path}", path, (lambda view=view: view(state)), methods=["POST"])


def _sdk_int(value, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ApiError(SDK_BAD_PARAMETER)
    return value


def get_chat_data(state):
    data = body()
    seq = _sdk_int(data.get("seq", 0), 0, 2 ** 64 - 1)
    limit = _sdk_int(data.get("limit"), 1, MAX_LIMIT)
    archive = getattr(state, "archive", None)
    secret = data.get("secret") or ""
    kind = state.secrets.get(secret) if data.get("corpid") == state.corp_id else None
    if kind is None or archive is None:
        raise ApiError(SDK_NETWORK_ERROR, "gettoken failed")  # what the library makes of gettoken's 40001/40013
    if kind != "archive":
        raise ApiError(48002)
    return ok(chatdata=archive.after(seq, limit))


def decrypt_data(state):
    data = body()
    key, msg = data.get("encrypt_key"), data.get("encrypt_msg")
    if not isinstance(key, str) or not key or not isinstance(msg, str) or not msg:
        raise ApiError(SDK_BAD_PARAMETER)
    return ok(msg=unseal(key, msg))


def _archive_token(state) -> EmulatedArchive:
    archive = getattr(state, "archive", None)
    if archive is None or g.get("token_kind") != "archive":
        raise ApiError(48002, "not the archive's secret")
    return archive


def get_permit_user_list(state):
    data = body()
    archive = _archive_token(state)
    edition = data.get("type")
    if edition not in (None, 1, 2, 3):
        raise ApiError(40058, "type is 1, 2 or 3")  # the errcode is UNCONFIRMED
    with archive._lock:
        return ok(ids=[u for u, e in archive.permit.items() if edition is None or e == edition])


def groupchat_get(state):
    data = body()
    archive = _archive_token(state)
    roomid = data.get("roomid")
    if not isinstance(roomid, str) or not roomid:
        raise ApiError(40058, "roomid")  # UNCONFIRMED errcode
    with archive._lock:
        room = archive.rooms.get(roomid)
        if room is None:
            raise ApiError(NOT_INTERNAL_GROUP)
        return ok(**copy.deepcopy(room))
