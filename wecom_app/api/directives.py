"""/api/v1/directives (being written)."""
