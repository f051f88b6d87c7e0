"""`wecom-app groups import FILE`: the workbench's import from the command line — every group
registered, or every problem printed by row and column and nothing kept."""

import csv

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from tests.conftest import AES_KEY, CORP_ID, SECRET, TOKEN
from wecom_app.cli import main
from wecom_app.governance import group_import
from wecom_app.models import AuditEntry, Department, Group, User
from wecom_app.models.directory import STATUS_ACTIVE


@pytest.fixture
def env(db_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stray .env
    return {"WECOM_CORP_ID": CORP_ID, "WECOM_AGENT_ID": "1000002", "WECOM_SECRET": SECRET, "WECOM_TOKEN": TOKEN,
            "WECOM_AES_KEY": AES_KEY, "SECRET_KEY": "cli-test-secret-key-123", "DATABASE_URL": db_url}


@pytest.fixture
def directory(runtime):
    with runtime.sessions.begin() as db:
        db.add(Department(id=8, name="研发部", parentid=1))
        db.add_all([User(userid=u, name=n, status=STATUS_ACTIVE, main_department=8)
                    for u, n in (("caoyang", "曹阳"), ("pengfei", "彭飞"))])


def sheet(tmp_path, *rows):
    path = tmp_path / "登记.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([c.header for c in group_import.COLUMNS])
        writer.writerows(rows)
    return path


def groups(runtime):
    with runtime.sessions() as db:
        return db.scalar(select(func.count()).select_from(Group))


def test_r7_groups_import_registers_every_row(env, runtime, directory, tmp_path):
    path = sheet(tmp_path, ["内部群", "", "研发部-技术交流群", "曹阳", "pengfei", "研发部", "", "", "", "否", ""])
    result = CliRunner().invoke(main, ["groups", "import", str(path), "--actor", "zhangwei"], env=env,
                                catch_exceptions=False)
    assert result.exit_code == 0 and "已登记 1 个群" in result.stdout and "研发部-技术交流群" in result.stdout
    with runtime.sessions() as db:
        assert db.scalar(select(AuditEntry).where(AuditEntry.action == "group.import")).actor == "zhangwei"


def test_r7_groups_import_prints_every_problem_and_keeps_nothing(env, runtime, directory, tmp_path):
    path = sheet(tmp_path, ["内部群", "", "研发部-技术交流群", "caoyang", "pengfei", "研发部", "", "", "", "否", ""],
                 ["内部群", "", "研发部-值班群", "ghost1", "pengfei", "采购部", "", "", "", "否", ""])
    result = CliRunner().invoke(main, ["groups", "import", str(path)], env=env, catch_exceptions=False)
    assert result.exit_code == 1
    assert "第 3 行\t群主\t通讯录中没有：ghost1" in result.stderr and "范围：部门" in result.stderr
    assert "2 处问题（共 2 行），没有导入任何群" in result.stderr
    assert groups(runtime) == 0


def test_groups_import_refuses_a_file_it_cannot_read(env, runtime, tmp_path):
    path = tmp_path / "groups.xlsx"
    path.write_bytes(b"not a spreadsheet")
    result = CliRunner().invoke(main, ["groups", "import", str(path)], env=env, catch_exceptions=False)
    assert result.exit_code == 1 and "这不是有效的 .xlsx 文件" in result.stderr and groups(runtime) == 0
