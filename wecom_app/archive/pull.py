"""The pull (issue 12 item 3): archived messages from WeCom's conversation archive into
`archived_message`, from the stored `seq` cursor, in pages of up to 1,000
(GetChatData, developer.work.weixin.qq.com/document/path/91774).

Per page: every record's `encrypt_random_key` is decrypted with the private key of its
`publickey_ver` (keys.py, PKCS#1 v1.5) and its message with DecryptData; then, in ONE
transaction, the page's messages are stored (`msgid` unique: a page pulled again after a
crash stores nothing twice), the rooms they came from are noted (rooms.py reads them) and
the cursor moves to the page's last `seq`. A crash before the commit leaves the cursor where
it was, so the page is pulled again: no duplicate, no skipped `seq`.

- A record that cannot be read — no private key for its `publickey_ver`, a corrupted random
  key, DecryptData refusing it, a message that is not JSON — is kept as it came
  (state `encrypted`, with its error), counted and shown; the cursor passes it (WeCom keeps
  records 5 days: waiting would lose the rest). `retry_encrypted` reads such records again
  once the missing key is given.
- An unknown `msgtype` is stored and counted (`known_type` False), never an error.
- A one-to-one chat keeps its metadata only: no rule reads private chats.
- WeCom unreachable (the SDK's 10001, a timeout, WeCom's -1): the cursor does not move; the
  next run tries again.
- The SDK reports a wrong secret as 10001 too (its gettoken failure is swallowed: sdk.py).
  After a 10001 the app asks gettoken with the archive's secret itself: 40001 means the
  secret is wrong. A configuration error (wrong secret, the app's secret instead of the
  archive's 48002, IP not allowed 301042 / 10009, archive expired 301052) is recorded once
  on the cursor (`error`, `error_since`), logged once, told to the office once, and tried
  again hourly, not every minute (repeated wrong-secret calls get an IP blocked).
- Lag: how far behind WeCom the stored messages may be (`lag_seconds`): /metrics shows it,
  and the office is alerted once when it passes 3 days, because WeCom keeps 5.

Readers (content rules, instructions, activity: issue 12 items 5-7): `pull(readers=…)` and
`retry_encrypted(readers=…)` call each `reader(session, settings, message, room, now)` for
every newly stored (or newly decrypted) message in the page's transaction (room is the
ArchiveRoom or None), in a savepoint per message: a reader's exception undoes that message's
readings, is logged (`wecom.archive.reader_failed`) and counted, and the page still commits
(a stuck cursor would lose everything behind it after WeCom's 5 days); the content rules read
such a message again from their backlog. A process that dies mid-page rolls the page back and
it is pulled again on the next run: stored once, judged once. The job composes them (archive/job.py
`READERS`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select, update

from wecom_app.archive import rooms
from wecom_app.archive.keys import ANY_VERSION, ArchiveKeyError, PrivateKeys
from wecom_app.archive.sdk import MAX_LIMIT, ArchiveApiError, ArchiveError, ArchiveSdk, NetworkError, SdkError
from wecom_app.logs import kv
from wecom_app.models import ArchiveCursor, ArchivedMessage, ArchiveRoom
from wecom_app.wecom import outbox
from wecom_app.wecom.errors import WeComAuthError, WeComError

log = logging.getLogger("wecom.archive")

PAGE = MAX_LIMIT  # "一次拉取的消息条数，最大值1000条" (91774)
PAGES_PER_RUN = 20  # 20,000 messages a run at most; the next run (a minute later) goes on
TIMEOUT = 10  # seconds, GetChatData's own timeout argument
LEASE = timedelta(minutes=10)  # one pull at a time across processes; a crashed pull's lease runs out
CONFIG_RETRY = timedelta(hours=1)  # after a configuration error, try again hourly, not every minute
LAG_ALERT = timedelta(days=3)  # WeCom keeps 5 days ("获取会话记录内容不能超过5天", 91774)
RETENTION = timedelta(days=5)
MSGID_MAX, ROOMID_MAX, USERID_MAX, MSGTYPE_MAX = 128, 64, 64, 32

# the message types 91774 lists; anything else is kept and counted as unknown
KNOWN_TYPES = frozenset({
    "text", "image", "revoke", "agree", "disagree", "voice", "video", "card", "location", "emotion", "file",
    "link", "weapp", "chatrecord", "todo", "vote", "collect", "redpacket", "meeting", "docmsg", "markdown",
    "news", "calendar", "mixed", "meeting_voice_call", "voip_doc_share", "external_redpacket", "sphfeed",
    "voiptext", "qydiskfile", "switch",
})

# what a configuration error is called on the cursor, and what the office is told to do
CONFIG_ERRORS = {
    "wrong_secret": "WECOM_ARCHIVE_SECRET 不正确（gettoken 答 40001）：请在管理后台「管理工具 → 会话内容存档」复制 Secret 后重启应用",
    "not_archive_secret": "WECOM_ARCHIVE_SECRET 不是会话内容存档的 Secret（企业微信答 48002）",
    "ip_not_allowed": "本服务器的 IP 不在会话内容存档的可信 IP 中（301042 / 10009）：请在管理后台添加",
    "expired": "会话内容存档已过期（301052）：请续费",
}
_API_ERRORS = {48002: "not_archive_secret", 301042: "ip_not_allowed", 301052: "expired"}
_SDK_ERRORS = {10009: "ip_not_allowed"}

MISSING_KEY = "no private key for publickey_ver"  # UnknownKeyVersion's message: such records are read once the key is there

Reader = Callable  # reader(session, settings, message: ArchivedMessage, room: ArchiveRoom | None, now)


@dataclasses.dataclass
class PullCounts:
    pages: int = 0
    records: int = 0
    stored: int = 0
    duplicates: int = 0  # msgid already stored (a page pulled again)
    encrypted: int = 0  # kept encrypted: no key for its version, a corrupted key, DecryptData refused it
    unknown_types: int = 0
    private: int = 0  # one-to-one chats: metadata only
    new_rooms: int = 0
    reader_errors: int = 0  # a reader failed on a message: logged, its part undone, the pull goes on
    caught_up: bool = False
    busy: bool = False  # another pull holds the cursor
    error: str | None = None

    @property
    def total(self) -> int:
        return self.records + (self.error is not None)

    def summary(self) -> str:
        return " ".join(f"{k}={v}" for k, v in dataclasses.asdict(self).items())


class _Abort(Exception):
    """The page cannot be pulled now (WeCom down, a configuration error): the cursor stays."""

    def __init__(self, code: str, detail: str, transient: bool):
        super().__init__(code)
        self.code, self.detail, self.transient = code, detail, transient


def cursor(session, corp_id: str, now: datetime) -> ArchiveCursor:
    row = session.scalar(select(ArchiveCursor).where(ArchiveCursor.corp_id == corp_id))
    if row is None:
        row = ArchiveCursor(corp_id=corp_id, seq=0, error_count=0, created_at=now, updated_at=now)
        session.add(row)
        session.flush()
    return row


def note_notify(session, corp_id: str, now: datetime) -> None:
    """A msgaudit_notify (95039): new messages are archived; the notify job pulls within seconds."""
    cursor(session, corp_id, now).notified_at = now


def pull(session_factory, sdk: ArchiveSdk, keys: PrivateKeys, settings, now: datetime, *, client=None,
         pages: int = PAGES_PER_RUN, force: bool = False, after: Callable[[], None] | None = None,
         readers: Sequence[Reader] = ()) -> PullCounts:
    """Pull from the cursor until WeCom has nothing more (or `pages` pages). `client`: the
    WeComClient, to tell a wrong secret from an outage. `force`: ignore the hourly wait
    after a configuration error. `after`: run once the pull succeeded, still holding the
    cursor's lease (the rooms' reads: one process at a time for them too). `readers`: run
    for each newly stored message in its page's transaction."""
    counts = PullCounts()
    if not _lease(session_factory, settings.corp_id, now, force, config_key(settings)):
        counts.busy = True
        return counts
    try:
        with session_factory() as session:
            seq = cursor(session, settings.corp_id, now).seq
        for _ in range(pages):
            try:
                records = _page(sdk, client, seq)
                seq = _store_page(session_factory, sdk, keys, settings, seq, records, now, counts, readers)
            except _Abort as abort:
                counts.error = abort.code
                _failed(session_factory, settings, abort, now, force)
                return counts
            counts.pages += 1
            if len(records) < PAGE:
                counts.caught_up = True
                break
        _succeeded(session_factory, settings, now, counts)
        if after is not None:
            after()
        return counts
    finally:
        _release(session_factory, settings.corp_id)


def config_key(settings) -> str:
    """A fingerprint of the archive's secret and SDK (no part of the secret is stored)."""
    return hashlib.sha256(f"{settings.corp_id}\0{settings.archive_secret}\0{settings.finance_sdk}".encode()).hexdigest()[:16]


def _lease(session_factory, corp_id: str, now: datetime, force: bool, key: str) -> bool:
    with session_factory.begin() as session:
        row = cursor(session, corp_id, now)
        if row.lease_until is not None and _aware(row.lease_until) > now:
            return False
        if not force and row.retry_at is not None and _aware(row.retry_at) > now and row.error_key == key:
            return False  # a configuration error: tried again hourly (at once with another secret or SDK)
        row.lease_until, row.notified_at = now + LEASE, None
        return True


def _release(session_factory, corp_id: str) -> None:
    with session_factory.begin() as session:
        session.execute(update(ArchiveCursor).where(ArchiveCursor.corp_id == corp_id).values(lease_until=None))


def _page(sdk: ArchiveSdk, client, seq: int) -> list[dict]:
    try:
        data = sdk.get_chat_data(seq, PAGE, TIMEOUT)
    except ArchiveApiError as exc:
        code = _API_ERRORS.get(exc.errcode)
        raise _Abort(code or f"wecom_{exc.errcode}", str(exc), exc.transient or code is None) from None
    except NetworkError as exc:
        if _secret_refused(client):
            raise _Abort("wrong_secret", f"{exc}; gettoken refuses WECOM_ARCHIVE_SECRET", False) from None
        raise _Abort("unavailable", str(exc), True) from None
    except SdkError as exc:
        code = _SDK_ERRORS.get(exc.code)
        raise _Abort(code or f"sdk_{exc.code}", str(exc), code is None and exc.transient) from None
    return [r for r in data.get("chatdata") or () if isinstance(r, dict)]


def _secret_refused(client) -> bool:
    """gettoken with the archive's secret (91039): 40001 and kin mean the secret is wrong."""
    if client is None:
        return False
    try:
        client.for_archive().access_token()
    except WeComAuthError:
        return True
    except WeComError:
        return False  # WeCom is down for gettoken too: an outage
    return False


def _store_page(session_factory, sdk, keys, settings, seq: int, records: list[dict], now: datetime,
                counts: PullCounts, readers: Sequence[Reader]) -> int:
    """Decrypt a page, then store it and move the cursor in one transaction; the new seq."""
    rows = [_read(sdk, keys, record, now) for record in records]  # WeCom down mid-page: _Abort, nothing stored
    counts.records += len(rows)
    last = max([seq, *(int(r.seq) for r in rows)])
    with session_factory.begin() as session:
        ids = [r.msgid for r in rows]
        known = set()
        for start in range(0, len(ids), 500):
            known.update(session.scalars(select(ArchivedMessage.msgid).where(
                ArchivedMessage.msgid.in_(ids[start:start + 500]))))
        page_rooms: dict = {}
        for row in rows:
            if row.msgid in known:
                counts.duplicates += 1
                continue
            known.add(row.msgid)
            session.add(row)
            counts.stored += 1
            counts.encrypted += row.state == "encrypted"
            counts.unknown_types += not row.known_type
            counts.private += row.state == "private"
            room = rooms.note_message(session, settings, row, now, counts, page_rooms) if row.roomid else None
            _read_with(readers, session, settings, row, room, now, counts)
        row = cursor(session, settings.corp_id, now)
        if last < row.seq:  # another pull went further (its lease ran out while we waited): keep the furthest
            last = row.seq
        row.seq = last
        newest = max((r.msgtime for r in rows if r.msgtime is not None), default=None)
        if newest is not None and (row.newest_msgtime is None or newest > _aware(row.newest_msgtime)):
            row.newest_msgtime = newest
    return last


def _read_with(readers: Sequence[Reader], session, settings, message: ArchivedMessage, room, now: datetime,
               counts: PullCounts) -> None:
    """The readers on one stored message, in a savepoint: a reader that fails on it (a bug, data it
    cannot read) is logged and counted and its part undone, and the page still commits — a reader
    must never hold the cursor still, or WeCom's 5 days run out for every message behind it. The
    content rules' part is read again by their backlog (`judged` stays false); a process that dies
    mid-page rolls the whole page back as before."""
    if not readers:
        return
    try:
        with session.begin_nested():
            for reader in readers:
                reader(session, settings, message, room, now)
    except Exception:  # noqa: BLE001 - any reader's failure; logged with its stack
        counts.reader_errors += 1
        log.exception(kv("wecom.archive.reader_failed", msgid=message.msgid, seq=message.seq, roomid=message.roomid))


def _read(sdk: ArchiveSdk, keys: PrivateKeys, record: dict, now: datetime) -> ArchivedMessage:
    """One chatdata record → an ArchivedMessage (decrypted, or kept encrypted with its error)."""
    seq = record.get("seq")
    seq = seq if isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0 else 0
    msgid = record.get("msgid")
    ver = record.get("publickey_ver")
    ver = ver if isinstance(ver, int) and not isinstance(ver, bool) else None
    if not isinstance(msgid, str) or not 0 < len(msgid) <= MSGID_MAX:
        return _encrypted(f"seq:{seq}", seq, ver, record, "the record's msgid is missing or longer than "
                          f"{MSGID_MAX} characters", now)
    try:
        random_key = keys.decrypt_random_key(ver if ver is not None else -1, record.get("encrypt_random_key"))
        text = sdk.decrypt_data(random_key, record.get("encrypt_chat_msg"))
    except ArchiveKeyError as exc:
        return _encrypted(msgid, seq, ver, record, str(exc), now)
    except ArchiveError as exc:
        if getattr(exc, "transient", False) and isinstance(exc, NetworkError):
            raise _Abort("unavailable", f"DecryptData: {exc}", True) from None
        return _encrypted(msgid, seq, ver, record, f"DecryptData: {exc}", now)
    try:
        message = json.loads(text, strict=False)  # WeCom's text may carry raw control characters
    except ValueError:
        message = None
    if not isinstance(message, dict):
        return _encrypted(msgid, seq, ver, record, "DecryptData gave no JSON object", now)
    return message_row(msgid, seq, ver, message, text, now)


def _encrypted(msgid: str, seq: int, ver, record: dict, error: str, now: datetime) -> ArchivedMessage:
    kept = {k: record.get(k) for k in ("seq", "msgid", "publickey_ver", "encrypt_random_key", "encrypt_chat_msg")}
    return ArchivedMessage(msgid=msgid, seq=seq, publickey_ver=ver, state="encrypted", encrypted=_clean(kept),
                           error=error[:500], known_type=True, stored_at=now)


def message_row(msgid: str, seq: int, ver, message: dict, text: str, now: datetime) -> ArchivedMessage:
    """The fields the rules read, from a message JSON of 91774."""
    msgtype = _short(message.get("msgtype") or ("switch" if message.get("action") == "switch" else ""), MSGTYPE_MAX)
    roomid = _short(message.get("roomid"), ROOMID_MAX) or None
    tolist = message.get("tolist")
    row = ArchivedMessage(
        msgid=msgid, seq=seq, publickey_ver=ver, roomid=roomid,
        sender=_short(message.get("from") or message.get("user"), USERID_MAX) or None,
        tolist=[_short(t, USERID_MAX) for t in tolist if isinstance(t, str)] if isinstance(tolist, list) else None,
        msgtime=_ms(message.get("msgtime") or message.get("time")), msgtype=msgtype or None,
        action=_short(message.get("action"), 16) or None, known_type=msgtype in KNOWN_TYPES, stored_at=now)
    if roomid is None:  # a one-to-one chat (or a switch log): no rule reads it, so its content is not kept
        row.state = "private"
        return row
    row.state, row.content = "stored", _content(message, msgtype)
    row.raw = text.replace("\x00", "\\u0000")  # a literal NUL is invalid JSON anyway, and PostgreSQL refuses it
    return row


def _content(message: dict, msgtype: str) -> str | None:
    """The text the content rules read: a text's content, a markdown's, a link's title and
    description (91774); None for other types."""
    body = message.get(msgtype) if msgtype else None
    if msgtype == "markdown" and isinstance(message.get("info"), dict):
        body = message["info"]  # UNCONFIRMED: 91774's markdown sample keys its content under "info"; either is read
    if not isinstance(body, dict):
        return None
    if msgtype in ("text", "markdown"):
        parts = [body.get("content")]
    elif msgtype in ("link", "weapp"):
        parts = [body.get("title"), body.get("description")]
    else:
        return None
    text = "\n".join(p for p in parts if isinstance(p, str) and p)
    return _clean(text) if text else None


def _clean(value):
    """PostgreSQL stores no NUL in text (nor \\u0000 in JSON): each becomes U+FFFD."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def _short(value, limit: int) -> str:
    return _clean(value)[:limit] if isinstance(value, str) else ""


def _ms(value) -> datetime | None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        return None
    try:
        return datetime.fromtimestamp(value / 1000 if value > 10 ** 11 else value, timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


# -- the pull's standing state: one error recorded once, recovery, lag ---------------------------


def _failed(session_factory, settings, abort: _Abort, now: datetime, force: bool) -> None:
    with session_factory.begin() as session:
        row = cursor(session, settings.corp_id, now)
        new = row.error != abort.code
        if new:
            row.error, row.error_since, row.error_count = abort.code, now, 0
        row.error_detail, row.error_count, row.pulled_at = abort.detail[:1000], (row.error_count or 0) + 1, now
        row.retry_at = None if abort.transient else now + CONFIG_RETRY
        row.error_key = config_key(settings)
        if new:  # one line per error, not one a minute
            log.error(kv("wecom.archive.pull_failed", error=abort.code, detail=abort.detail[:300]))
            if abort.code in CONFIG_ERRORS:
                tell_office(session, settings, f"【会话存档】拉取会话内容失败：{CONFIG_ERRORS[abort.code]}。"
                                               "修复前新消息不会进入系统，企业微信只保留 5 天。",
                            key=f"archive.error:{abort.code}:{now:%Y%m%dT%H%M%S}", now=now)


def _succeeded(session_factory, settings, now: datetime, counts: PullCounts) -> None:
    with session_factory.begin() as session:
        row = cursor(session, settings.corp_id, now)
        if row.error is not None:
            log.info(kv("wecom.archive.pull_recovered", error=row.error, since=row.error_since, failures=row.error_count))
        row.error = row.error_detail = row.error_since = row.retry_at = row.error_key = None
        row.error_count, row.pulled_at = 0, now
        if counts.caught_up:
            row.caught_up_at = now
    if counts.stored:
        log.info(kv("wecom.archive.pulled", **dataclasses.asdict(counts)))


def lag_seconds(row: ArchiveCursor | None, now: datetime) -> float:
    """How far behind WeCom the stored messages may be: since the last pull that emptied
    WeCom's queue, or the newest message stored if a backlog is being worked through."""
    if row is None:
        return 0.0
    marks = [_aware(t) for t in (row.caught_up_at, row.newest_msgtime) if t is not None]
    since = max(marks) if marks else _aware(row.created_at)
    return max(0.0, (now - since).total_seconds())


def check_lag(session_factory, settings, now: datetime) -> float:
    """The lag, and the office alerted once when it passes 3 days (again after it recovered)."""
    with session_factory.begin() as session:
        row = cursor(session, settings.corp_id, now)
        lag = lag_seconds(row, now)
        if lag > LAG_ALERT.total_seconds() and row.lag_alerted_at is None:
            row.lag_alerted_at = now
            days = lag / 86400
            tell_office(session, settings,
                        f"【会话存档】已有 {days:.1f} 天的会话内容未能拉取（{row.error or '原因未知'}）。"
                        "企业微信只保留 5 天，超过后这些消息将永久无法拉取，请尽快处理。",
                        key=f"archive.lag:{now:%Y%m%dT%H%M%S}", now=now)
            log.error(kv("wecom.archive.lag_alert", lag_days=f"{days:.1f}", error=row.error))
        elif lag <= LAG_ALERT.total_seconds() and row.lag_alerted_at is not None:
            row.lag_alerted_at = None
    return lag


def tell_office(session, settings, text: str, *, key: str, now: datetime) -> None:
    """An urgent message/send to the office admins (WECOM_ADMINS), as other office notices go."""
    admins = [a for a in dict.fromkeys(settings.admins) if a]
    if not admins:
        log.error(kv("wecom.archive.no_office", why="WECOM_ADMINS is empty: nobody to tell"))
        return
    outbox.enqueue(session, "message/send", {"touser": "|".join(admins), "msgtype": "text", "text": {"content": text}},
                   key=key, now=now, urgent=True)


# -- records kept encrypted, read again once their key is there ---------------------------------


def retry_encrypted(session_factory, sdk: ArchiveSdk, keys: PrivateKeys, settings, now: datetime,
                    *, limit: int = 500, readers: Sequence[Reader] = ()) -> int:
    """Records kept encrypted whose key version the app now has (a key added to
    WECOM_ARCHIVE_PRIVATE_KEYS since): read again from the stored record (WeCom's 5 days do
    not matter, the record is ours). The number read."""
    read = 0
    query = select(ArchivedMessage).where(ArchivedMessage.state == "encrypted",
                                          ArchivedMessage.error.like(MISSING_KEY + "%"))
    if ANY_VERSION not in keys.versions:  # only the versions the app has a key for now
        query = query.where(ArchivedMessage.publickey_ver.in_(keys.versions or [-1]))
    with session_factory() as session:
        candidates = session.scalars(query.order_by(ArchivedMessage.seq).limit(limit)).all()
        session.expunge_all()
    for old in candidates:
        record = old.encrypted or {}
        if not record.get("msgid"):
            continue
        try:
            keys.key_for(old.publickey_ver if old.publickey_ver is not None else -1)
        except ArchiveKeyError:
            continue
        try:
            new = _read(sdk, keys, record, now)
        except _Abort:
            break
        if new.state == "encrypted":
            continue
        with session_factory.begin() as session:
            row = session.get(ArchivedMessage, old.id)
            for field in ("state", "roomid", "sender", "tolist", "msgtime", "msgtype", "action", "known_type",
                          "content", "raw"):
                setattr(row, field, getattr(new, field))
            row.encrypted, row.error = None, None
            room = rooms.note_message(session, settings, row, now, PullCounts()) if row.roomid else None
            _read_with(readers, session, settings, row, room, now, PullCounts())
        read += 1
    return read


def status(session, settings, now: datetime) -> dict:
    """What the workbench and the API show of the pull."""
    row = session.scalar(select(ArchiveCursor).where(ArchiveCursor.corp_id == settings.corp_id))
    counts = dict(session.execute(select(ArchivedMessage.state, func.count()).group_by(ArchivedMessage.state)).all())
    unknown = session.scalar(select(func.count()).where(ArchivedMessage.known_type.is_(False))) or 0
    rooms_failing = session.scalar(select(func.count()).where(ArchiveRoom.read_errcode.is_not(None))) or 0
    return {
        "enabled": bool(settings.archive_enabled),
        "seq": row.seq if row else 0,
        "lag_seconds": lag_seconds(row, now),
        "error": row.error if row else None,
        "error_since": row.error_since.isoformat() if row and row.error_since else None,
        "error_hint": CONFIG_ERRORS.get(row.error) if row and row.error else None,
        "messages": counts.get("stored", 0), "encrypted": counts.get("encrypted", 0),
        "private": counts.get("private", 0), "unknown_types": unknown, "rooms_not_readable": rooms_failing,
    }


def metric_values(session, settings, now: datetime) -> dict[str, float]:
    """The archive's gauges on /metrics (metrics.py), read from the database at scrape time."""
    shown = status(session, settings, now)
    return {"wecom_archive_lag_seconds": shown["lag_seconds"],
            "wecom_archive_encrypted_messages": shown["encrypted"],
            "wecom_archive_unknown_type_messages": shown["unknown_types"],
            "wecom_archive_pull_failing": 1 if shown["error"] else 0}
