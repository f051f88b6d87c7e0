"""What WeCom does with a text over its limit, and the record that it happened.

- message/send text over 2,048 bytes is cut, silently, errcode 0: "消息内容，最长不超过
  2048个字节，超过将截断" (developer.work.weixin.qq.com/document/path/90236). The emulator
  keeps the first 2,048 bytes (less the bytes of a character cut in half: UNCONFIRMED
  whether WeCom keeps those).
- message/send markdown over 2,048 bytes (90236 "最长不超过2048个字节"), appchat/send text
  and markdown over 2,048 bytes (document/path/90248 "最长不超过2048个字节") and a group
  robot's text over 2,048 bytes (document/path/99398): the pages give the limit, not what
  happens beyond it — UNCONFIRMED; cut here like message/send's text.
- a group robot's markdown over 4,096 bytes (99398) is refused: errcode 40058
  "markdown.content exceed max length 4096" (public reports of WeCom's answer, 2021 and
  2024; the page itself does not say).

Either way it is recorded in `state.truncated` (api, msgtype, bytes, limit, what was
done) and in this module's process-wide `SEEN`, which the test suite watches: any
test that makes the app send a text WeCom would cut fails (tests/plugins/sandbox.py).
"""

from __future__ import annotations

import threading

from wecom_app.sandbox.emulator.api import ApiError

LIMITS = {  # (api, msgtype) → bytes in UTF-8
    ("message/send", "text"): 2048, ("message/send", "markdown"): 2048,
    ("appchat/send", "text"): 2048, ("appchat/send", "markdown"): 2048,
    ("webhook/send", "text"): 2048, ("webhook/send", "markdown"): 4096,
}
REFUSED = {("webhook/send", "markdown")}  # 40058 rather than cut
SEEN: list[dict] = []  # every truncation or refusal in this process, for the test-suite guard
_lock = threading.Lock()


def apply(state, api: str, data: dict) -> None:
    """Cut (in `data`, so the record shows what members got) or refuse a text over its limit."""
    msgtype = data.get("msgtype")
    limit = LIMITS.get((api, msgtype))
    content = data.get(msgtype) if isinstance(data.get(msgtype), dict) else {}
    text = content.get("content")
    if limit is None or not isinstance(text, str):
        return
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return
    refused = (api, msgtype) in REFUSED
    entry = dict(api=api, msgtype=msgtype, bytes=len(raw), limit=limit, action="refused" if refused else "truncated",
                 at=state.now())
    with state.lock:
        state.truncated.append(entry)
    with _lock:
        SEEN.append(entry)
    if refused:
        raise ApiError(40058, f"{msgtype}.content exceed max length {limit}")
    content["content"] = raw[:limit].decode("utf-8", "ignore")
