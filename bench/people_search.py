"""Benchmark of the people picker's search (issue 13 item 1): N active people in one
department tree (SQLite in a temporary file), the index built once, then searches by
Chinese name, full pinyin, initials, userid and department name, as the workbench's
`/people/search` runs them (without HTTP). Prints the build time and the per-query
median and worst of R rounds.

    ./dev bench people_search [--people 10000] [--rounds 20]

Target: a search under 100 ms at 10,000 people, so typing feels immediate.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert  # noqa: E402
from sqlalchemy.orm import sessionmaker  # noqa: E402

from wecom_app.db import make_engine, upgrade  # noqa: E402
from wecom_app.directory import people  # noqa: E402
from wecom_app.models import Department, User, UserDepartment  # noqa: E402

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英"
DEPARTMENTS = ["总部", "行政部", "研发部", "华东销售组", "华南销售组", "财务部", "法务部", "客服中心"]
QUERIES = ("李娜", "lina", "ln", "u09999", "研发部", "zhangwei")


def seed(sessions, count: int) -> None:
    with sessions() as db:
        db.execute(insert(Department), [dict(id=i + 1, name=name, parentid=0 if i == 0 else 1, order=i)
                                        for i, name in enumerate(DEPARTMENTS)])
        db.execute(insert(User), [dict(
            userid=f"u{i:05d}", status=1, main_department=1 + i % len(DEPARTMENTS), position="职员",
            name=SURNAMES[i % len(SURNAMES)] + GIVEN[i // len(SURNAMES) % len(GIVEN)] + GIVEN[i % len(GIVEN)])
            for i in range(count)])
        db.execute(insert(UserDepartment), [dict(userid=f"u{i:05d}", department_id=1 + i % len(DEPARTMENTS))
                                            for i in range(count)])
        db.commit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{scratch}/people.db"
        upgrade(url)
        engine = make_engine(url)
        sessions = sessionmaker(engine)
        seed(sessions, args.people)
        with sessions() as db:
            started = time.perf_counter()
            people.index(db)
            built = time.perf_counter() - started
            print(f"{args.people:,} people: index built in {built * 1000:.0f} ms (once per directory change)")
            worst_median = 0.0
            for query in QUERIES:
                times = []
                for _ in range(args.rounds):
                    started = time.perf_counter()
                    found = people.search(db, query)
                    times.append(time.perf_counter() - started)
                median = statistics.median(times)
                worst_median = max(worst_median, median)
                print(f"  {query:<10} {found['total']:>6} found   median {median * 1000:6.1f} ms"
                      f"   worst {max(times) * 1000:6.1f} ms")
        engine.dispose()
    verdict = "met" if worst_median < 0.1 else "missed"
    print(f"target (every query's median under 100 ms): {verdict} ({worst_median * 1000:.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
