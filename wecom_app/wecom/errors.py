"""The exceptions the WeCom client raises, and which errcode maps to which.

Callers (the outbox sender, jobs, the workbench) decide on the class, not on the
number: `transient` errors are retried later with backoff, `WeComRateLimited`
says how long to wait, `WeComAuthError` is a configuration problem to alert on
(retrying a wrong secret gets the server's IP blocked for an hour, 90313), and
anything else is a permanent answer about this one request.

Error codes: document/path/90313 (shared/wecom-api-notes.md §3.1, §4, §8).
"""

from __future__ import annotations

# 40014 invalid / 42001 expired access_token: refresh once and retry once (91039)
TOKEN_ERRCODES = frozenset({40014, 42001})
# 40001 invalid secret, 40013 invalid corpid, 40091 secret invalid, 41004 secret missing,
# 60020 IP not in 企业可信IP, 48002 API not permitted for this app (console settings)
AUTH_ERRCODES = frozenset({40001, 40013, 40091, 41004, 60020, 48002})
# gettoken's answers that mean the configuration is wrong (secret, corp id, trusted IP):
# remembered for a while, because WeCom blocks an IP after repeated wrong-secret calls
CONFIG_ERRCODES = frozenset({40001, 40013, 40091, 41004, 60020})
# 45009 frequency limit, 45011 minute quota, 45033 concurrency cap (90312)
RATE_LIMIT_ERRCODES = frozenset({45009, 45011, 45033})
BUSY_ERRCODE = -1
# 6000 data version conflict: somebody else wrote at the same time, try again later
RETRY_LATER_ERRCODES = frozenset({6000})

# A per-minute breach blocks for about the rest of the minute (90312); a
# concurrency cap clears as soon as the other calls finish.
RETRY_AFTER = {45009: 60.0, 45011: 60.0, 45033: 5.0}


class WeComError(Exception):
    """WeCom answered `errcode != 0` (or could not be asked at all: `errcode is None`).

    `errmsg` is scrubbed of tokens and secrets before it gets here.
    """

    def __init__(self, api: str, errcode: int | None, errmsg: str = ""):
        self.api = api
        self.errcode = errcode
        self.errmsg = errmsg
        super().__init__(api, errcode, errmsg)

    @property
    def transient(self) -> bool:
        """True when the same request may well succeed later."""
        return self.errcode in RETRY_LATER_ERRCODES

    def __str__(self) -> str:
        return f"{self.api}: errcode={self.errcode} errmsg={self.errmsg}"


class WeComRateLimited(WeComError):
    """45009 / 45011 / 45033: back off for `retry_after` seconds before calling again."""

    def __init__(self, api: str, errcode: int | None, errmsg: str = "", retry_after: float | None = None):
        super().__init__(api, errcode, errmsg)
        self.retry_after = retry_after if retry_after is not None else RETRY_AFTER.get(errcode or 0, 60.0)

    @property
    def transient(self) -> bool:
        return True


class WeComBusy(WeComError):
    """errcode -1 (system busy), still busy after the client's own retries."""

    @property
    def transient(self) -> bool:
        return True


class WeComUnavailable(WeComError):
    """No usable answer: network error, timeout or HTTP 5xx after retries. `errcode` is None;
    `status` is the HTTP status when there was one."""

    def __init__(self, api: str, errmsg: str = "", status: int | None = None):
        super().__init__(api, None, errmsg)
        self.status = status

    @property
    def transient(self) -> bool:
        return True


class WeComAuthError(WeComError):
    """The app's configuration is wrong (secret, corp id, trusted IP, app permissions),
    or WeCom keeps rejecting a freshly fetched token. Alert an operator; never loop."""


def error_for(api: str, errcode: int, errmsg: str) -> WeComError:
    """The exception class for an errcode answered by WeCom."""
    if errcode in RATE_LIMIT_ERRCODES:
        return WeComRateLimited(api, errcode, errmsg)
    if errcode == BUSY_ERRCODE:
        return WeComBusy(api, errcode, errmsg)
    if errcode in AUTH_ERRCODES or errcode in TOKEN_ERRCODES:
        return WeComAuthError(api, errcode, errmsg)
    return WeComError(api, errcode, errmsg)
