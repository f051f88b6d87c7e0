"""Finding people in the directory mirror by what office staff type: a name or part
of it (李娜, 娜), its pinyin or initials (lina, ln, lin), a userid, a department
(行政部). Used by the workbench's people picker and by its forms, which turn what
was typed into userids (`resolve`): a name two people share is asked about, not
guessed, and a name or userid nobody has is named back.

The pinyin of every name (pypinyin, each character with all its readings, so a
surname like 曾 matches zeng and ceng) is computed once per directory state and kept
in the process: the index is rebuilt when the directory's version (directory/version.py:
one row a trigger bumps on every write to the mirror) is not the one it was built at, so
a search costs one small read before the work in memory. A transaction that wrote the
directory itself searches an index built for it alone (its writes may roll back).
10,000 people: bench/people_search.py.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from functools import lru_cache

from pypinyin import Style, pinyin
from sqlalchemy import select

from wecom_app.directory import version as directory_version
from wecom_app.models import Department, User, UserDepartment
from wecom_app.models.directory import STATUS_ACTIVE

SPLIT = re.compile(r"[\s,，、;；]+")
HAN = re.compile(r"[\u3400-\u9fff]")


@lru_cache(maxsize=20000)
def _readings(char: str) -> tuple[str, ...]:
    """Every pinyin reading of one character (toneless, lower case); the character itself otherwise."""
    if not HAN.match(char):
        return (char.lower(),)
    found = pinyin(char, style=Style.NORMAL, heteronym=True)[0]
    return tuple(dict.fromkeys(r.lower() for r in found if r)) or (char,)


def spelled(query: str, readings: tuple[tuple[str, ...], ...]) -> bool:
    """Does the ASCII `query` spell the name from one of its characters on, each character
    by its full pinyin or its initial (lina, ln, lin, lna), the last one possibly cut short?"""
    return any(_spell(query, readings, start) for start in range(len(readings)))


def _spell(query: str, readings, at: int) -> bool:
    if not query:
        return True
    if at == len(readings):
        return False
    for reading in readings[at]:
        if reading.startswith(query):
            return True
        if query.startswith(reading) and _spell(query[len(reading):], readings, at + 1):
            return True
        if query[0] == reading[0] and _spell(query[1:], readings, at + 1):
            return True
    return False


@dataclasses.dataclass(frozen=True)
class Person:
    userid: str
    name: str
    status: int
    position: str
    department: str  # the main department's name (with its parent's when the name alone is ambiguous)
    departments: tuple[int, ...]
    readings: tuple[tuple[str, ...], ...]
    initials: frozenset[str]  # the first letters of every reading: a cheap test before spelling

    def label(self) -> str:
        """李娜（行政部 · 行政专员）: how two people of one name are told apart."""
        detail = " · ".join(x for x in (self.department, self.position) if x)
        return f"{self.name or self.userid}（{detail}）" if detail else (self.name or self.userid)

    def view(self, same_name: int) -> dict:
        return dict(userid=self.userid, name=self.name or self.userid, department=self.department,
                    position=self.position, label=self.label(), same_name=same_name)


@dataclasses.dataclass
class Index:
    people: dict[str, Person]
    by_name: dict[str, list[str]]  # name → userids of active people
    departments: dict[int, tuple[str, int]]  # id → (name, parentid)
    department_readings: dict[int, tuple[tuple[str, ...], ...]]

    def same_name(self, person: Person) -> int:
        return len(self.by_name.get(person.name, ())) if person.name else 0


_cache: dict[str, tuple[tuple, Index]] = {}
_cache_lock = threading.Lock()


def index(session) -> Index:
    """The search index of this database's directory, rebuilt only when the mirror changed."""
    key = str(session.get_bind().url)
    session.flush()  # this transaction's own directory changes are seen as written (never cached)
    mark = directory_version.current(session)  # first: what is read after it is at least this new
    if directory_version.wrote_directory(session):
        return _build(session)
    with _cache_lock:
        cached = _cache.get(key)
        if cached and cached[0] == mark:
            return cached[1]
    built = _build(session)
    with _cache_lock:
        if key not in _cache and len(_cache) >= 8:  # one database in production; tests make many
            _cache.clear()
        _cache[key] = (mark, built)
    return built


def _build(session) -> Index:
    departments = {d_id: (name or str(d_id), parent or 0) for d_id, name, parent in session.execute(
        select(Department.id, Department.name, Department.parentid).where(Department.deleted.is_(False)))}
    shared = {}
    for name, _ in departments.values():
        shared[name] = shared.get(name, 0) + 1
    memberships: dict[str, list[int]] = {}
    for userid, department_id in session.execute(select(UserDepartment.userid, UserDepartment.department_id)):
        memberships.setdefault(userid, []).append(department_id)
    people, by_name = {}, {}
    for userid, name, status, position, main in session.execute(
            select(User.userid, User.name, User.status, User.position, User.main_department)):
        main = main or (memberships.get(userid) or [None])[0]
        dept_name, parent = departments.get(main, ("", 0))
        if dept_name and shared.get(dept_name, 0) > 1 and parent in departments:
            dept_name = f"{departments[parent][0]}/{dept_name}"
        readings = tuple(_readings(c) for c in (name or ""))
        people[userid] = Person(userid, name or "", status, position or "", dept_name,
                                tuple(memberships.get(userid, ())), readings,
                                frozenset(r[0] for options in readings for r in options if r))
        if status == STATUS_ACTIVE and name:
            by_name.setdefault(name, []).append(userid)
    department_readings = {d_id: tuple(_readings(c) for c in name) for d_id, (name, _) in departments.items()}
    return Index(people, by_name, departments, department_readings)


def subtree(idx: Index, department_id: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for d_id, (_, parent) in idx.departments.items():
        children.setdefault(parent, []).append(d_id)
    found, frontier = {department_id}, [department_id]
    while frontier:
        for child in children.get(frontier.pop(), ()):
            if child not in found:
                found.add(child)
                frontier.append(child)
    return found


def _rank(person: Person, query: str, han: bool, idx: Index, matched_departments: set[int]) -> int | None:
    """Lower is better; None: no match."""
    if not han:
        if person.userid == query:
            return 0
        if person.userid.startswith(query):
            return 2
    if person.name == query:
        return 1
    if han and person.name.startswith(query):
        return 3
    if han and query in person.name:
        return 4
    if not han and query[0] in person.initials:
        if _spell(query, person.readings, 0):
            return 3
        if any(_spell(query, person.readings, start) for start in range(1, len(person.readings))):
            return 5
    if not han and query in person.userid:
        return 6
    if matched_departments and matched_departments.intersection(person.departments):
        return 7
    return None


def search(session, query: str = "", *, visible: set[str] | None = None, department: int | None = None,
           sub: bool = True, page: int = 1, per_page: int = 20) -> dict:
    """Active people matching `query` (and in `department`, its sub-departments too when `sub`),
    best matches first, one page; the departments whose name matches too (for browsing).
    `visible`: the userids the asker may see (None: everyone)."""
    idx = index(session)
    query = re.sub(r"\s+", "", query or "").lower()
    han = bool(HAN.search(query))
    matched_departments: set[int] = set()
    departments = []
    if query:
        for d_id, (name, _) in idx.departments.items():
            if (query in name.lower()) or (not han and spelled(query, idx.department_readings[d_id])):
                matched_departments |= subtree(idx, d_id)
                departments.append(d_id)
    within = (subtree(idx, department) if sub else {department}) if department is not None else None
    ranked = []
    for person in idx.people.values():
        if person.status != STATUS_ACTIVE or (visible is not None and person.userid not in visible):
            continue
        if within is not None and not within.intersection(person.departments):
            continue
        rank = _rank(person, query, han, idx, matched_departments) if query else 0
        if rank is not None:
            ranked.append((rank, person.name, person.userid, person))
    ranked.sort(key=lambda r: r[:3])
    total = len(ranked)
    page = max(1, page)
    chosen = ranked[(page - 1) * per_page:page * per_page]
    shown_departments = [] if visible is not None else [
        dict(id=d_id, name=idx.departments[d_id][0], path=department_path(idx, d_id)) for d_id in departments[:10]]
    return dict(people=[p.view(idx.same_name(p)) for *_, p in chosen], departments=shown_departments,
                page=page, per_page=per_page, total=total, has_next=page * per_page < total)


def department_path(idx: Index, department_id: int) -> str:
    names, seen = [], set()
    while department_id in idx.departments and department_id not in seen:
        seen.add(department_id)
        name, department_id = idx.departments[department_id]
        names.append(name)
    return " / ".join(reversed(names))


def tree(session) -> list[dict]:
    """Every department with its depth, in tree order (for the picker's 按部门 list)."""
    idx = index(session)
    children: dict[int, list[int]] = {}
    for d_id, (_, parent) in sorted(idx.departments.items()):
        children.setdefault(parent, []).append(d_id)
    roots = [d for d, (_, parent) in sorted(idx.departments.items()) if parent not in idx.departments]
    rows, stack = [], [(d, 0) for d in reversed(roots)]
    while stack:
        d_id, depth = stack.pop()
        rows.append(dict(id=d_id, name=idx.departments[d_id][0], depth=depth))
        stack.extend((c, depth + 1) for c in reversed(children.get(d_id, ())) if c != d_id)
    return rows


def people(session, userids) -> list[dict]:
    """The picker's view of these userids (those the directory knows), in the order given."""
    idx = index(session)
    found = [idx.people.get(str(u).lower()) for u in userids]
    return [p.view(idx.same_name(p)) for p in found if p is not None]


@dataclasses.dataclass
class Resolution:
    """What a person field's text named: userids, and what could not be told."""

    userids: list[str]
    unknown: list[str]
    ambiguous: dict[str, list[dict]]  # the name typed → the people who have it

    def errors(self) -> list[str]:
        errors = []
        if self.unknown:
            errors.append(f"通讯录中没有：{'、'.join(self.unknown)}（请从列表中选择，或填写企业微信账号 userid）")
        for name, who in self.ambiguous.items():
            choices = "、".join(f"{p['label']} {p['userid']}" for p in who)
            errors.append(f"有 {len(who)} 位「{name}」，请选择是哪一位：{choices}")
        return errors


def tokens(values) -> list[str]:
    """What was typed or chosen, split on spaces, commas and 、; several form values allowed."""
    if isinstance(values, str):
        values = [values]
    return [t for v in values or () for t in SPLIT.split(str(v or "").strip()) if t]


def resolve(session, values, visible: set[str] | None = None) -> Resolution:
    """Userids for what was typed: a userid as is (any status: the rules judge that), else a
    name held by exactly one active person (of those in `visible`, when given). Two people
    of one name are not guessed between."""
    idx = index(session)
    userids, unknown, ambiguous = [], [], {}
    for token in tokens(values):
        if token.lower() in idx.people:
            found = [token.lower()]
        else:
            found = idx.by_name.get(token) or [u for u, p in idx.people.items() if p.name == token]
            found = [u for u in found if visible is None or u in visible]
        if len(found) == 1:
            if found[0] not in userids:
                userids.append(found[0])
        elif found:
            ambiguous[token] = [idx.people[u].view(len(found)) for u in found]
        elif token not in unknown:
            unknown.append(token)
    return Resolution(userids, unknown, ambiguous)


def matching(session, query: str) -> set[str]:
    """Userids of everyone in the directory (any status: a list of records keeps people who
    left) whose name has `query` in it, or is spelled by it in pinyin or initials, or whose
    userid has it: the workbench lists' search box (workbench/sorting.py)."""
    idx = index(session)
    query = re.sub(r"\s+", "", query or "").lower()
    if not query:
        return set()
    han = bool(HAN.search(query))
    found = set()
    for person in idx.people.values():
        if query in person.name.lower() or query in person.userid:
            found.add(person.userid)
        elif not han and query[0] in person.initials and spelled(query, person.readings):
            found.add(person.userid)
    return found
