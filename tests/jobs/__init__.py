"""Scheduled jobs (jobs/*.py) driven on a passed-in clock: directory refresh, reminders,
escalation, group re-reads, reconciliation, real-name reminders."""
