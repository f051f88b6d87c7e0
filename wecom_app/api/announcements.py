"""/api/v1/announcements (being written)."""
