"""Prometheus metrics. Counters live in each process (or in PROMETHEUS_MULTIPROC_DIR
under gunicorn); queue gauges are read from the database at scrape time, so they
are right whichever process answers, and the spool gauges from SPOOL_DIR."""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest, multiprocess
from prometheus_client import REGISTRY as _DEFAULT

CALLBACKS = Counter("wecom_callbacks_received_total", "Callbacks stored", ["source"])
REJECTED = Counter("wecom_callbacks_rejected_total", "Callbacks rejected", ["reason"])
DUPLICATES = Counter("wecom_callbacks_duplicate_total", "Callbacks already stored (WeCom retries)")
EVENTS_HANDLED = Counter("wecom_inbox_events_total", "Inbox events processed", ["outcome"])
WECOM_ERRORS = Counter("wecom_api_errors_total", "WeCom API errors", ["api", "errcode"])
WECOM_CALLS = Counter("wecom_api_calls_total", "WeCom API calls", ["api"])
TOKEN_REFRESHES = Counter("wecom_token_refreshes_total", "Access token refreshes")
OUTBOX_SENT = Counter("wecom_outbox_sent_total", "Outbox actions sent", ["kind"])
OUTBOX_FAILED = Counter("wecom_outbox_failed_total", "Outbox actions failed for good", ["kind", "errcode"])
SPOOLED = Counter("wecom_callbacks_spooled_total", "Callbacks spooled to disk while the database was unavailable",
                  ["source"])
# outcome: stored, duplicate (already in the inbox), kept_aside (unreadable line moved to SPOOL_DIR/corrupt)
SPOOL_REPLAYED = Counter("wecom_spool_replayed_total", "Spooled callbacks replayed into the inbox", ["outcome"])
# recipients moved to a later time by one of WeCom's quotas (today: message/send's seats × 200 a day)
OUTBOX_QUOTA_WAIT = Counter("wecom_outbox_quota_wait_total", "Recipients deferred by a WeCom quota", ["kind", "quota"])

_QUEUE_GAUGES = (
    ("wecom_inbox_pending", "Inbox events waiting to be processed"),
    ("wecom_inbox_parked", "Inbox events parked after too many failures"),
    ("wecom_inbox_lag_seconds", "Age of the oldest pending inbox event"),
    ("wecom_outbox_pending", "Outbox actions waiting to be sent"),
    ("wecom_outbox_failed", "Outbox actions that failed for good"),
    ("wecom_outbox_waiting", "Outbox actions WeCom has not taken for over 15 minutes (being retried)"),
    ("wecom_outbox_oldest_waiting_seconds", "Age of the oldest outbox action being retried for over 15 minutes"),
    # the conversation archive (issue 12): 0 while it is off
    ("wecom_archive_lag_seconds", "How far behind WeCom the archived messages may be (WeCom keeps 5 days)"),
    ("wecom_archive_encrypted_messages", "Archived records kept encrypted: no key for their version, or unreadable"),
    ("wecom_archive_unknown_type_messages", "Archived messages of a msgtype the app does not read (kept)"),
    ("wecom_archive_pull_failing", "1 while the archive pull has a standing error (wrong secret, WeCom down...)"),
    # read from this host's SPOOL_DIR, so they are there while the database is not
    ("wecom_spool_events", "Callbacks spooled on this host, waiting to be replayed into the inbox"),
    ("wecom_spool_oldest_age_seconds", "Age of the oldest spooled callback on this host"),
)


def render(queue_values: dict[str, float]) -> bytes:
    """The exposition text: process counters plus database-backed queue gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        text = generate_latest(registry)
    else:
        text = generate_latest(_DEFAULT)
    gauges = CollectorRegistry()
    for name, doc in _QUEUE_GAUGES:
        Gauge(name, doc, registry=gauges).set(queue_values.get(name, 0))
    return text + generate_latest(gauges)
