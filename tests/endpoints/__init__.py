"""The endpoint layer: /wecom/callback and /api/v1 through the Flask test client."""
