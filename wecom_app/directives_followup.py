"""Reminders and escalation of directives (being written)."""

from __future__ import annotations


def check_plan(plan: dict) -> dict:
    return dict(plan)
