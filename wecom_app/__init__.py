"""wecom-app: a WeCom (企业微信) self-built app that makes a company's group-chat rules real.

What lives where (DESIGN §2; dependencies run one way, from the top of this list down):

Faces, which people and programs use:
- `workbench/`  the web console opened from WeCom's 工作台 (Flask + Jinja)
- `api/`        the JSON REST API under `/api/v1`
- `cli/`        the `wecom-app` command line (`serve`, `sync`, `jobs run`, `ledger verify`, …)
- `sandbox/`    the built-in WeCom emulator (`sandbox/emulator/`) and the demo company

The repository's top-level `handlers/` (one module per callback event family) and `jobs/`
(one module per scheduled job) sit between the faces and the domain, with `settlers.py`:
the outbox settlers (subject → the feature that takes WeCom's answer), one dict the outbox job uses.

The domain, one package per concern of the regulation (RULES.md):
- `governance/`  governed groups: registry, scope, naming, the join and real-name rules,
                 membership, reconciliation, discovery, group size, sensitive words
- `violations/`  violation records, members' reports, sanctions, assessments
- `directives/`  directives with receipts, reminders, escalation, the ledger, the receipt sheet
- `directory/`   the directory mirror, the full sync, userid renames
- `announcements.py`  announcements to groups (R4, R17)

Below the domain:
- `callbacks/`  crypto, receiver, spool, events, router, dispatcher: WeCom's callbacks in
- `wecom/`      client, token, errors, outbox and its outcomes, quotas, text limits, robot keys: calls out
- `models/`     the tables only, the leaf every other package imports
- shared services: `audit.py` (who did what), `api_tokens.py`, `session_generations.py`,
  `workcal.py` (working time, R4), `xlsx.py` (spreadsheet cells), `inputs.py` (untrusted numbers)

Infrastructure: `config.py` (settings), `db.py` (engine, sessions, migrations in
`migrations/`), `logs.py`, `metrics.py`, `app.py` (the Flask factory and the runtime),
`scheduler.py` (the dispatcher thread and the jobs), `served.py` and `wsgi.py` (gunicorn).
"""
