"""The JSON REST API under `/api/v1` (DESIGN §3), for automation and integrations.

`register_api(app)` mounts the blueprint (wecom_app/api/blueprint.py, with the helpers
views share: `json_body()`, `paginate()`) with its JSON error handling. Each resource
family is one module that adds its routes to `bp`; a new family is imported below
and listed in `RESOURCES`.
"""

from __future__ import annotations

from flask import Flask

# the resource families, by name, in the order their routes are added to `bp`
from wecom_app.api import groups, calendar, violations, sensitive_words, directives, announcements
from wecom_app.api.blueprint import bp
from wecom_app.api.errors import install_routing_errors

RESOURCES = (groups, calendar, violations, sensitive_words, directives, announcements)


def register_api(app: Flask) -> None:
    install_routing_errors(app)
    app.register_blueprint(bp)
