"""The one place that talks to WeCom's server API: a wrapper over wechatpy's
HTTP core (`wechatpy.work.WeChatClient`, auto_retry off) that adds what it lacks
(shared/wechatpy-notes.md "Client"):

- the API base from settings (the sandbox emulator in tests), gettoken included;
- the access token shared through the database, refreshed early and single-flight
  (wecom/token.py), one token per secret (app secret; 通讯录同步 secret via
  `for_contacts()`, used only for user/list_id: since 2022-08-15 that secret may
  not read user/get, user/list or department/list from a new IP, 90196/90208; the
  conversation archive's secret via `for_archive()`, for msgaudit/* 91614/92951);
- 40014/42001 → refresh once and retry the call once, never recursively; a
  40001 from gettoken is a configuration error and is never retried (91039);
- a (connect, read) timeout on every request and a total time budget per call;
  bounded retries with jittered exponential backoff on network errors, timeouts,
  HTTP 5xx and errcode -1 (90313), with an injectable `sleep`. A state-changing
  call (anything not in `IDEMPOTENT_APIS`) is retried only when the request
  cannot have reached WeCom (connect timeout, connection refused) or WeCom said
  -1 (busy: nothing was done); a read timeout, a reset after sending or an HTTP
  5xx raise `WeComUnavailable` at once, and the outbox decides when to send
  again, so a message is not delivered twice by one call;
- typed exceptions (wecom/errors.py), metrics, and logs with dotted keys that
  never carry a token, a secret, a robot key or a URL.

API pages: gettoken 91039, message/send 90236, update_template_card 94888,
appchat 90245/98913/98914/90248, user 90196/90200/90201/96067, department 90208,
agent/get 90227, groupchat 92120/92122, auth/getuserinfo 91023, robot 99398.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from sqlalchemy.orm import sessionmaker
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError
from wechatpy.exceptions import WeChatClientException
from wechatpy.work import WeChatClient

from wecom_app import metrics
from wecom_app.config import Settings
from wecom_app.db import utcnow
from wecom_app.logs import kv, redact
from wecom_app.wecom.errors import (
    BUSY_ERRCODE,
    TOKEN_ERRCODES,
    WeComAuthError,
    WeComBusy,
    WeComError,
    WeComRateLimited,
    WeComUnavailable,
    error_for,
)
from wecom_app.wecom.token import TokenStore, token_key

__all__ = [
    "WeComClient", "WeComError", "WeComRateLimited", "WeComBusy", "WeComUnavailable", "WeComAuthError",
]

log = logging.getLogger("wecom.client")

MAX_ATTEMPTS = 3
BACKOFF_BASE = 0.5  # seconds; doubled per attempt, jittered to 50-100 %
BACKOFF_CAP = 8.0
POOL_SIZE = 32  # several outbox sender threads plus web requests share one pool

# Reads (and calls as harmless to repeat): retried even after the request may have
# reached WeCom. Every other POST changes state and is not repeated blindly.
IDEMPOTENT_APIS = frozenset({
    "gettoken", "agent/get", "appchat/get", "auth/getuserinfo", "user/list_id",
    "externalcontact/groupchat/list", "externalcontact/groupchat/get",
    "msgaudit/groupchat/get", "msgaudit/get_permit_user_list",
})
IDEMPOTENT_PREFIXES = ("user/", "department/", "tag/")


def is_idempotent(method: str, api: str) -> bool:
    """May this call be repeated after the request may have reached WeCom?"""
    return method == "GET" or api in IDEMPOTENT_APIS or api.startswith(IDEMPOTENT_PREFIXES)


class _Core(WeChatClient):
    """wechatpy's HTTP core, reduced to sending and decoding.

    The token is always passed in by our wrapper, so wechatpy never fetches one
    (its gettoken has a hard-coded host and no timeout), and results come back
    as dicts for our own errcode handling instead of wechatpy's exceptions.
    """

    @property
    def access_token(self):
        return None  # requests drops a None query parameter: no token on gettoken / webhook

    def fetch_access_token(self):  # pragma: no cover - guarded: never called
        raise RuntimeError("tokens are fetched by WeComClient")

    def _handle_result(self, res, method=None, url=None, result_processor=None, **kwargs):
        return res if isinstance(res, dict) else self._decode_result(res)


class _Retry(Exception):
    """A failure worth another attempt: network, timeout, HTTP 5xx, errcode -1."""

    def __init__(self, api: str, reason: str, errcode: int | None = None, errmsg: str = "", status: int | None = None,
                 sent: bool = False):
        super().__init__(api, reason)
        self.api, self.reason, self.errcode, self.errmsg, self.status = api, reason, errcode, errmsg, status
        self.sent = sent  # the request may have reached WeCom (and WeCom may have done the work)

    def final(self) -> WeComError:
        if self.errcode == BUSY_ERRCODE:
            return WeComBusy(self.api, self.errcode, self.errmsg)
        return WeComUnavailable(self.api, self.errmsg or self.reason, status=self.status)


class WeComClient:
    """Calls WeCom for one secret (the app's unless `secret` is given). Thread-safe;
    share one per process (`Runtime.client`)."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker,
        *,
        secret: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
        max_attempts: int = MAX_ATTEMPTS,
        budget: float | None = None,
        http: requests.Session | None = None,
    ):
        self.settings = settings
        self.sessions = sessions
        self._secret = settings.secret if secret is None else secret
        if not self._secret:
            raise ValueError("WeComClient needs a secret (WECOM_SECRET / WECOM_CONTACT_SECRET is empty)")
        self.clock = clock
        self.sleep = sleep
        self.max_attempts = max(1, max_attempts)
        self.timeout = float(settings.wecom_timeout)
        # the whole call, retries included, ends within the budget
        self.budget = budget if budget is not None else self.timeout * self.max_attempts + BACKOFF_CAP
        self._core = _Core(settings.corp_id, self._secret, timeout=self.timeout, auto_retry=False)
        self._core.API_BASE_URL = settings.api_base
        self._core._http = http or _pooled_session()
        self.tokens = TokenStore(sessions, token_key(settings.corp_id, self._secret), clock)
        self._contacts: WeComClient | None = None
        self._archive: WeComClient | None = None
        self._contacts_lock = threading.Lock()
        _quiet_urllib3()

    def __repr__(self) -> str:
        return f"<WeComClient corp_id={self.settings.corp_id} key={self.tokens.key[:8]}>"

    def for_contacts(self) -> WeComClient:
        """The client of the 通讯录同步 secret, sharing this one's pool. Only user/list_id
        goes through it (96067: that secret alone may call it); every detail read
        (user/get, user/list, department/list, tag/get) stays on the app's own token,
        because the 通讯录同步 secret is refused them from an IP added after
        2022-08-15 (48009; 90196, 90201, 90208)."""
        if self._secret == self.settings.contact_secret:
            return self
        if not self.settings.contact_secret:
            raise ValueError("WECOM_CONTACT_SECRET is not set: directory-sync calls are unavailable")
        with self._contacts_lock:
            if self._contacts is None:
                self._contacts = WeComClient(
                    self.settings, self.sessions, secret=self.settings.contact_secret, clock=self.clock,
                    sleep=self.sleep, max_attempts=self.max_attempts, budget=self.budget, http=self._core._http,
                )
            return self._contacts

    def for_archive(self) -> WeComClient:
        """The client of the conversation archive's secret (WECOM_ARCHIVE_SECRET), sharing this
        one's pool: msgaudit/groupchat/get (92951) and msgaudit/get_permit_user_list (91614)
        take only a token made from that secret (another token: 48002)."""
        if self._secret == self.settings.archive_secret:
            return self
        if not self.settings.archive_secret:
            raise ValueError("WECOM_ARCHIVE_SECRET is not set: the conversation archive is off")
        with self._contacts_lock:
            if self._archive is None:
                self._archive = WeComClient(
                    self.settings, self.sessions, secret=self.settings.archive_secret, clock=self.clock,
                    sleep=self.sleep, max_attempts=self.max_attempts, budget=self.budget, http=self._core._http,
                )
            return self._archive

    def msgaudit_groupchat_get(self, roomid: str) -> dict:
        """An internal group's name, creator and members with join time (92951), on the archive's token."""
        return self.for_archive().post("msgaudit/groupchat/get", {"roomid": roomid})

    def msgaudit_permit_users(self) -> dict:
        """The members whose chats WeCom archives (91614), on the archive's token."""
        return self.for_archive().post("msgaudit/get_permit_user_list", {})

    def close(self) -> None:
        self._core._http.close()

    # -- generic calls ----------------------------------------------------------

    def get(self, api: str, params: dict[str, Any] | None = None) -> dict:
        """GET `api` (a path under the API base, e.g. `user/get`); the JSON when errcode is 0."""
        return self._call("GET", api, params=params)

    def post(self, api: str, body: dict[str, Any]) -> dict:
        """POST a JSON body to `api`; the JSON when errcode is 0."""
        return self._call("POST", api, body=body)

    # -- typed calls used by the app -----------------------------------------------

    def send_message(self, body: dict[str, Any]) -> dict:
        """message/send. A partial failure is not an exception: the result keeps
        `invaliduser`/`invalidparty`/`invalidtag`, `msgid` and `response_code` (90236)."""
        return self.post("message/send", {"agentid": self.settings.agent_id, **body})

    def update_template_card(self, body: dict[str, Any]) -> dict:
        return self.post("message/update_template_card", {"agentid": self.settings.agent_id, **body})

    def appchat_create(self, body: dict[str, Any]) -> dict:
        return self.post("appchat/create", body)

    def appchat_update(self, body: dict[str, Any]) -> dict:
        return self.post("appchat/update", body)

    def appchat_get(self, chatid: str) -> dict:
        return self.get("appchat/get", {"chatid": chatid})

    def appchat_send(self, body: dict[str, Any]) -> dict:
        return self.post("appchat/send", body)

    def user_get(self, userid: str) -> dict:
        return self.get("user/get", {"userid": userid})

    def user_list(self, department_id: int) -> dict:
        return self.get("user/list", {"department_id": department_id})

    def user_simplelist(self, department_id: int) -> dict:
        return self.get("user/simplelist", {"department_id": department_id})

    def user_list_id(self, cursor: str = "", limit: int = 10000) -> dict:
        """user/list_id: 通讯录同步 secret only (96067), so the app client hands it to
        `for_contacts()` when that secret is configured."""
        client = self.for_contacts() if self.settings.contact_secret else self
        return client.post("user/list_id", {"cursor": cursor, "limit": limit})

    def department_list(self, id: int | None = None) -> dict:  # noqa: A002 - WeCom's parameter name
        return self.get("department/list", None if id is None else {"id": id})

    def agent_get(self) -> dict:
        return self.get("agent/get", {"agentid": self.settings.agent_id})

    def groupchat_list(self, body: dict[str, Any]) -> dict:
        return self.post("externalcontact/groupchat/list", body)

    def groupchat_get(self, chat_id: str, need_name: bool = True) -> dict:
        return self.post("externalcontact/groupchat/get", {"chat_id": chat_id, "need_name": int(need_name)})

    def auth_getuserinfo(self, code: str) -> dict:
        """OAuth code → `userid` (member) or `openid`/`external_userid` (91023)."""
        return self.get("auth/getuserinfo", {"code": code})

    def webhook_send(self, key: str, body: dict[str, Any]) -> dict:
        """A group robot's message (99398). No access token; the key is a bearer secret."""
        return self._call("POST", "webhook/send", params={"key": key}, body=body, auth=False, hide=(key,))

    # -- the machinery ---------------------------------------------------------

    def access_token(self) -> str:
        """A valid token: cached, or fetched by one caller at a time."""
        return self._token(None, time.monotonic() + self.budget)[0]

    def _token(self, stale: str | None, deadline: float) -> tuple[str, bool]:
        """(token, fetched by this call). `stale` is a token WeCom just rejected."""
        if stale is None:
            token = self.tokens.current()
            if token:
                return token, False
        return self.tokens.refresh(lambda: self._fetch_token(deadline), stale=stale)

    def _fetch_token(self, deadline: float) -> tuple[str, int]:
        params = {"corpid": self.settings.corp_id, "corpsecret": self._secret}
        result = self._request("GET", "gettoken", params, None, deadline, ())
        errcode = int(result.get("errcode", 0))
        if errcode == BUSY_ERRCODE:
            raise _Retry("gettoken", "busy", errcode, self._scrub(result.get("errmsg", "")))
        if errcode != 0 or not result.get("access_token"):
            raise self._error("gettoken", errcode, result.get("errmsg", "no access_token in the answer"))
        metrics.TOKEN_REFRESHES.inc()
        expires_in = int(result.get("expires_in", 7200))
        log.info(kv("wecom.token.refreshed", token_key=self.tokens.key[:8], expires_in=expires_in))
        return result["access_token"], expires_in

    def _call(self, method: str, api: str, params=None, body=None, auth: bool = True, hide: tuple[str, ...] = ()) -> dict:
        """One API call: token, request, one token refresh, bounded retries. Never recursive."""
        deadline = time.monotonic() + self.budget
        stale: str | None = None  # a token WeCom rejected, to be replaced
        fetched = False  # this call has fetched a token: a rejection now is final
        rejections = 0
        failures = 0
        while True:
            token = None
            try:
                if auth:
                    token, new = self._token(stale, deadline)
                    fetched = fetched or new
                result = self._request(method, api, params, body, deadline, hide, token)
                errcode = int(result.get("errcode", 0))
                if errcode == BUSY_ERRCODE:
                    raise _Retry(api, "busy", errcode, self._scrub(result.get("errmsg", ""), hide))
            except _Retry as retry:
                failures += 1
                if retry.sent and retry.api == api and retry.errcode is None and not is_idempotent(method, api):
                    # WeCom may have done it: repeating could deliver twice; the outbox decides
                    metrics.WECOM_ERRORS.labels(api, retry.reason).inc()
                    log.warning(kv("wecom.api.not_repeated", api=api, reason=retry.reason, attempts=failures))
                    raise retry.final() from None
                self._back_off(retry, failures, deadline)
                continue
            if errcode == 0:
                return result
            # Refresh and retry once (91039). A token another worker just stored may be
            # dead too (two invalidations), so the rule is: at most one gettoken per call,
            # and at most two retries. 40001 on an ordinary call means the token, not the
            # secret, is bad; gettoken itself answers 40001 if the secret really is wrong.
            if auth and not fetched and rejections < 2 and (errcode in TOKEN_ERRCODES or errcode == 40001):
                log.info(kv("wecom.token.rejected", api=api, errcode=errcode))
                metrics.WECOM_ERRORS.labels(api, str(errcode)).inc()
                stale, rejections = token, rejections + 1
                self.tokens.forget()
                continue
            raise self._error(api, errcode, result.get("errmsg", ""), hide)

    def _back_off(self, retry: _Retry, failures: int, deadline: float) -> None:
        """Sleep before the next attempt (exponential, jittered), or raise the final error."""
        delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (failures - 1)) * random.uniform(0.5, 1.0)
        metrics.WECOM_ERRORS.labels(retry.api, str(retry.errcode if retry.errcode is not None else retry.reason)).inc()
        if failures >= self.max_attempts or time.monotonic() + delay >= deadline:
            log.warning(kv("wecom.api.gave_up", api=retry.api, reason=retry.reason, attempts=failures))
            raise retry.final() from None
        log.info(kv("wecom.api.retry", api=retry.api, reason=retry.reason, attempt=failures, delay=f"{delay:.2f}"))
        self.sleep(delay)

    def _request(self, method, api, params, body, deadline, hide, token=None) -> dict:
        """One HTTP request through wechatpy's core; failures worth retrying raise _Retry."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Retry(api, "budget", errmsg=f"no time left in the {self.budget:.0f}s budget")
        timeout = min(self.timeout, remaining)
        query = dict(params or {})
        if token:
            query["access_token"] = token
        kwargs: dict[str, Any] = {"params": query, "timeout": (timeout, timeout)}
        if body is not None:
            kwargs["data"] = body  # wechatpy encodes a dict as UTF-8 JSON (ensure_ascii=False)
            kwargs["headers"] = {"Content-Type": "application/json; charset=utf-8"}
        metrics.WECOM_CALLS.labels(api).inc()
        failure: _Retry | WeComError | None = None
        try:
            result = self._core._request(method, api, **kwargs)
        except requests.ConnectTimeout:
            failure = _Retry(api, "connect_timeout", errmsg=f"no connection within {timeout:.1f}s")
        except requests.Timeout:
            failure = _Retry(api, "timeout", errmsg=f"no answer within {timeout:.1f}s", sent=True)
        except requests.RequestException as exc:
            # never str(exc): requests puts the URL, token and secret included, in it
            failure = _Retry(api, "network", errmsg=type(exc).__name__, sent=not _not_sent(exc))
        except WeChatClientException as exc:
            status = getattr(exc.response, "status_code", None)
            if status is not None and status >= 500:
                failure = _Retry(api, f"http_{status}", errmsg=f"HTTP {status}", status=status, sent=True)
            else:
                metrics.WECOM_ERRORS.labels(api, f"http_{status}").inc()
                failure = WeComError(api, None, f"HTTP {status}")
        if failure is not None:
            raise failure
        if not isinstance(result, dict):
            raise _Retry(api, "not_json", errmsg="the answer is not JSON", sent=True)
        return result

    def _error(self, api: str, errcode: int, errmsg: str, hide: tuple[str, ...] = ()) -> WeComError:
        metrics.WECOM_ERRORS.labels(api, str(errcode)).inc()
        error = error_for(api, errcode, self._scrub(str(errmsg), hide))
        level = logging.ERROR if isinstance(error, WeComAuthError) else logging.WARNING
        fields = {"retry_after": error.retry_after} if isinstance(error, WeComRateLimited) else {}
        log.log(level, kv("wecom.api.error", api=api, errcode=errcode, **fields))
        return error

    def _scrub(self, text: str, hide: tuple[str, ...] = ()) -> str:
        """WeCom's errmsg, without anything secret even if an endpoint echoes it."""
        text = redact(text)
        cached = self.tokens._cached
        for secret in (self._secret, cached[0] if cached else None, *hide):
            if secret:
                text = text.replace(secret, "***")
        return text[:500]


def _not_sent(exc: requests.RequestException) -> bool:
    """True when the request surely never left: no connection could be made (refused,
    unreachable, name not resolved). A reset or close after connecting may come after
    WeCom got the request."""
    if not isinstance(exc, requests.ConnectionError):
        return False
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, (NewConnectionError, ConnectTimeoutError))


def _pooled_session() -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _quiet_urllib3() -> None:
    """urllib3 logs every request URL, access_token and corpsecret included, at DEBUG."""
    logger = logging.getLogger("urllib3")
    if logger.level == logging.NOTSET or logger.level < logging.INFO:
        logger.setLevel(logging.INFO)
