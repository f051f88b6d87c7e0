"""`wecom-app groups import FILE`: register (备案) the groups of an XLSX or CSV file made
from the workbench's template (群管理 › 批量登记), as `governance/group_import.py` judges
them: every problem of every row is printed (row, column, message) and nothing is kept
unless every row is good. The audit log names `--actor` (an admin's userid, default `cli`).
"""

from __future__ import annotations

from pathlib import Path

import click

from wecom_app.cli.runtime import make_runtime
from wecom_app.governance import group_import


@click.group("groups")
def groups_group():
    """Group registry: import registrations from a spreadsheet."""


@groups_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--actor", default="cli", show_default=True, help="who the audit log names")
def import_command(path: Path, actor: str):
    """Register every group of FILE (.xlsx or .csv, the workbench's template), or none."""
    with path.open("rb") as handle:
        data = handle.read(group_import.MAX_BYTES + 1)
    runtime = make_runtime()
    try:
        records = group_import.read_file(path.name, data)
        with runtime.sessions.begin() as session:
            groups = group_import.import_groups(session, runtime.settings, records, actor=actor,
                                                now=runtime.clock(), source=path.name)
            registered = [(g.id, g.name) for g in groups]
    except group_import.FileRefused as refused:
        raise click.ClickException(f"{path.name}: {refused.message}") from None
    except group_import.ImportRejected as rejected:
        for error in rejected.errors:
            click.echo(f"第 {error.row} 行\t{error.column}\t{error.message}", err=True)
        raise click.ClickException(f"{path.name}: {len(rejected.errors)} 处问题（共 {rejected.rows} 行），没有导入任何群")
    finally:
        runtime.engine.dispose()
    for group_id, name in registered:
        click.echo(f"{group_id}\t{name}")
    click.echo(f"已登记 {len(registered)} 个群")
