"""Naming conventions (R2 real names, R8 group names): configurable regular
expressions, checked with `fullmatch`.

Group names (R8). WeCom keeps at most 50 characters of an appchat name and cuts
the rest (appchat/create, document/path/90245), so a name is 2-50 characters.
The default is permissive but real: Chinese characters, letters, digits, spaces
and the punctuation group names use (`-_·.&+/、()（）【】[]`), starting with a
character or digit, and nothing else (no emoji, no control characters, no
leading or trailing space). A company that wants `部门-用途` (e.g. `研发部-周会`)
sets `GROUP_NAME_PATTERN` to `DEPARTMENT_PURPOSE`.

Real names (R2). The default is 2-4 Chinese characters (`张伟`, `欧阳娜娜`); a
group may override it (`Group.name_pattern`, e.g. `DEPARTMENT_DASH_NAME` for
`华东销售-朱霞`). Checked on directory names and, in customer groups, on the
member's group nickname. Many offices write names as `部门-姓名`, so besides a
regular expression `REAL_NAME_PATTERN` (and a group's pattern) may name a preset
(`REAL_NAME_PRESETS`): `name` (the default), `department-name` (only `部门-姓名`)
or `name-or-department-name` (either form). The default itself is unchanged: a
company chooses the wider rule, it is never widened behind its back.

Company-wide patterns come from settings attributes `group_name_pattern` and
`real_name_pattern` when present (read with getattr so this module works before
config.py grows the variables), else the defaults here.
"""

from __future__ import annotations

import functools
import re

_HAN = "\u3400-\u4dbf\u4e00-\u9fff"  # CJK Unified Ideographs and Extension A
DEFAULT_GROUP_NAME_PATTERN = rf"[{_HAN}A-Za-z0-9][{_HAN}A-Za-z0-9 _\-·.&+/、()（）【】\[\]]{{0,48}}[{_HAN}A-Za-z0-9)）】\]]"
DEPARTMENT_PURPOSE = rf"[{_HAN}A-Za-z0-9]{{2,20}}-[{_HAN}A-Za-z0-9]{{2,28}}"  # 部门-用途
DEFAULT_REAL_NAME_PATTERN = rf"[{_HAN}]{{2,4}}"
DEPARTMENT_DASH_NAME = rf"[{_HAN}A-Za-z0-9]{{1,20}}-[{_HAN}]{{1,4}}"  # 部门-姓名
NAME_OR_DEPARTMENT_DASH_NAME = rf"{DEFAULT_REAL_NAME_PATTERN}|{DEPARTMENT_DASH_NAME}"  # 张伟 or 华东销售-朱霞
# the real-name rules a company picks by name (REAL_NAME_PATTERN=department-name), with their words
REAL_NAME_PRESETS = {
    "name": (DEFAULT_REAL_NAME_PATTERN, "2-4 个汉字的真实姓名"),
    "department-name": (DEPARTMENT_DASH_NAME, "「部门-姓名」格式（如 华东销售-朱霞）"),
    "name-or-department-name": (NAME_OR_DEPARTMENT_DASH_NAME, "2-4 个汉字的真实姓名，或「部门-姓名」格式（如 华东销售-朱霞）"),
}
GROUP_NAME_MAX = 50  # appchat keeps 50 characters (90245)


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    """A pattern as given by an admin; ValueError (with the reason) when it does not compile."""
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None


def group_name_pattern(settings=None) -> str:
    return (settings.group_name_pattern if settings else None) or DEFAULT_GROUP_NAME_PATTERN


def real_name_pattern(settings=None, group=None) -> str:
    """The regular expression for real names: the group's, else the company's, else the default;
    a preset's name (`department-name`) stands for its expression."""
    chosen = (getattr(group, "name_pattern", None) or (settings.real_name_pattern if settings else None)
              or DEFAULT_REAL_NAME_PATTERN)
    return REAL_NAME_PRESETS[chosen][0] if chosen in REAL_NAME_PRESETS else chosen


def describe_real_name(pattern: str) -> str:
    """A real-name rule in words for a member or an admin (a preset's words, else the expression)."""
    for expression, words in REAL_NAME_PRESETS.values():
        if pattern == expression:
            return words
    return REAL_NAME_PRESETS[pattern][1] if pattern in REAL_NAME_PRESETS else f"格式 {pattern}"


def group_name_problem(name: str, settings=None) -> str | None:
    """Why `name` breaks the group naming convention (R8), or None when it is fine."""
    if not isinstance(name, str) or not name.strip():
        return "a group needs a name"
    if len(name) > GROUP_NAME_MAX:
        return f"at most {GROUP_NAME_MAX} characters (WeCom cuts longer names)"
    pattern = group_name_pattern(settings)
    if not compile_pattern(pattern).fullmatch(name):
        if pattern == DEFAULT_GROUP_NAME_PATTERN:
            return "2-50 characters: Chinese, letters, digits, spaces and - _ · . & + / 、 brackets; no emoji"
        return f"does not follow the company's group naming convention ({pattern})"
    return None


def is_real_name(name: str | None, pattern: str = DEFAULT_REAL_NAME_PATTERN) -> bool:
    """True when `name` follows the real-name convention (R2)."""
    return bool(name) and compile_pattern(pattern).fullmatch(name.strip()) is not None
