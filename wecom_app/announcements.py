"""Announcements (being written)."""
