"""Injected failures and the call log of the WeCom emulator.

WeCom fails in a handful of ways a client must survive (90313, 90312 §4): a slow
answer, an HTML error page from the gateway (HTTP 500/502/503), `errcode -1`
(system busy), `45009` (frequency limit), `45033` (concurrency limit), an answer
that never comes, and a dropped connection. A fault applies to one API path
("message/send") or to every path (path=None), for the next `count` calls or
until cleared (count=None).

A `response_code_ttl` fault fires on no call: while it is registered, a template
card's response_code expires after its `seconds` instead of WeCom's documented
72 hours (94888) — `add(kind="response_code_ttl", seconds=86400)` gives back the 24 h
of older doc copies, for tests that want it.

Python: `state.faults.add("message/send", "errcode", errcode=-1, count=2)`,
`state.faults.clear()`. HTTP (out of process, e.g. benchmarks):
`POST /sandbox/faults {"path": "message/send", "kind": "http_error", "status": 503, "count": 1}`,
`GET /sandbox/faults`, `DELETE /sandbox/faults` (or `/sandbox/faults/<id>`).
"""

from __future__ import annotations

import itertools
import threading

KINDS = ("latency", "http_error", "errcode", "hang", "reset", "response_code_ttl")
SETTINGS = ("response_code_ttl",)  # change a behaviour while registered; consumed by no call
OLD_RESPONSE_CODE_TTL = 24 * 3600  # what older copies of 94888/90236 said
MAX_HANG = 30.0  # longer than any sane client timeout, short enough never to wedge a test run


class FaultError(ValueError):
    """A fault description that makes no sense."""


class FaultInjector:
    def __init__(self, state):
        self._state = state
        self._lock = threading.Lock()
        self._faults: list[dict] = []
        self._ids = itertools.count(1)
        self.call_log: list[dict] = []

    def add(self, path: str | None = None, kind: str = "errcode", *, count: int | None = 1,
            seconds: float | None = None, status: int = 503, errcode: int = -1) -> dict:
        """Register a fault; returns it (with its `id`). `seconds` is the latency or the hang length."""
        if kind not in KINDS:
            raise FaultError(f"kind must be one of {', '.join(KINDS)}")
        if kind == "http_error" and status not in (500, 502, 503, 504):
            raise FaultError("status must be 500, 502, 503 or 504")
        if kind == "errcode" and errcode not in (-1, 45009, 45033, 60020):
            raise FaultError("errcode must be -1, 45009, 45033 or 60020")
        if count is not None and int(count) < 1:
            raise FaultError("count must be ≥ 1 or null (until cleared)")
        if seconds is None:
            seconds = {"hang": MAX_HANG, "response_code_ttl": OLD_RESPONSE_CODE_TTL}.get(kind, 1.0)
        if kind in SETTINGS:
            if float(seconds) <= 0:
                raise FaultError("seconds must be > 0")
            path, count = None, None
        else:
            seconds = min(float(seconds), MAX_HANG)
        fault = dict(id=next(self._ids), path=_normalise(path), kind=kind, count=count,
                     seconds=float(seconds), status=status, errcode=errcode, hits=0)
        with self._lock:
            self._faults.append(fault)
        return dict(fault)

    def clear(self, fault_id: int | None = None) -> None:
        with self._lock:
            self._faults = [f for f in self._faults if fault_id is not None and f["id"] != fault_id]

    def list(self) -> list[dict]:
        with self._lock:
            return [dict(f) for f in self._faults]

    def take(self, path: str) -> list[dict]:
        """The faults that fire for this call (latency first), each consuming one of its `count`."""
        fired = []
        with self._lock:
            for fault in list(self._faults):
                if fault["path"] not in (None, path) or fault["kind"] in SETTINGS:
                    continue
                if fault["kind"] != "latency" and any(f["kind"] != "latency" for f in fired):
                    continue  # one failure per call; latency adds to it
                fault["hits"] += 1
                if fault["count"] is not None:
                    fault["count"] -= 1
                    if fault["count"] == 0:
                        self._faults.remove(fault)
                fired.append(dict(fault))
        return sorted(fired, key=lambda f: f["kind"] != "latency")

    def setting(self, kind: str, default: float) -> float:
        """The value a registered setting fault (the latest of its kind) gives, else `default`."""
        with self._lock:
            found = [f["seconds"] for f in self._faults if f["kind"] == kind]
        return found[-1] if found else default

    # -- the call log -----------------------------------------------------------------------------
    def log(self, entry: dict) -> None:
        with self._lock:
            self.call_log.append(entry)

    def calls(self, path: str | None = None) -> list[dict]:
        path = _normalise(path)
        with self._lock:
            return [dict(c) for c in self.call_log if path is None or c["path"] == path]


def _normalise(path: str | None) -> str | None:
    """'/cgi-bin/message/send', 'cgi-bin/message/send' and 'message/send' all name one API."""
    if path in (None, "", "*"):
        return None
    path = path.strip("/")
    return path[len("cgi-bin/"):] if path.startswith("cgi-bin/") else path
