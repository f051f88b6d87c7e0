"""Structured logs with dotted keys (`wecom.callback.rejected reason=bad_signature`)
and a filter that redacts secrets from every record, ours or a library's.

wechatpy and urllib3 put `access_token=` and `corpsecret=` in URLs and exception
texts (shared/wechatpy-notes.md §6); the filter rewrites those values.
"""

from __future__ import annotations

import logging
import re
import sys

# query parameters and fields that carry a secret; `key=` is a robot webhook key, `code=` an OAuth code.
# A name counts unless a letter or digit runs into it (`errcode=0` stays, `suite_access_token=` goes),
# so a bare query string (`code=…&state=…`, as gunicorn's `%(q)s` or an exception text shows it) is
# covered as well as a URL's `?code=`.
_SECRET_QUERY = re.compile(r"((?<![A-Za-z0-9])(?:key|code|access_token|corpsecret|secret))=([^&\s\"'<>]+)",
                           re.IGNORECASE)


def redact(text: str) -> str:
    return _SECRET_QUERY.sub(lambda m: f"{m.group(1)}=***", text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def kv(key: str, **fields) -> str:
    parts = [key]
    for name, value in fields.items():
        text = str(value)
        parts.append(f"{name}={text!r}" if (" " in text or not text) else f"{name}={text}")
    return " ".join(parts)


def setup_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if not any(getattr(h, "_wecom", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        handler.addFilter(RedactingFilter())
        handler._wecom = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    # urllib3 logs full URLs (with access_token) at DEBUG: never let it
    logging.getLogger("urllib3").setLevel(max(logging.INFO, logging.getLevelName(level)))
    # APScheduler says "Running job …" and "executed successfully" for every run (the outbox every
    # 5 s): noise that buries the console; our own wecom.job.* lines say what a run did
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, logging.getLevelName(level)))
