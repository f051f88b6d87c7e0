"""`--profile` for the benchmarks: py-spy samples the gunicorn workers during the measured load.

py-spy (pinned in the dev extra) attaches to the running gunicorn master with `--subprocesses`,
so the workers are sampled as they are, with no profiler inside them (py-spy pauses a worker for
each sample, so the figures of a profiled run are lower; compare shares, not rates). It writes
collapsed stacks (`frame;frame;... count`, the input of any flame-graph tool: speedscope.app or
flamegraph.pl draw them) to `bench/out/<name>.collapsed`, and `summarise` turns them into the
table printed and saved beside it (`<name>.txt`): where the samples went, by step of the callback
path, then the functions with the most samples of their own.

`--gil`: a sample counts only the thread holding the GIL, so a share is a share of the workers'
Python CPU; time waiting for PostgreSQL's answer, in the poller or for the GIL is not in it
(without it, py-spy here counted threads blocked in psycopg's wait as busy: shares of wall time).
Work done in C with the GIL released (OpenSSL's AES, a socket send) is not in it either.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
RATE = 199  # samples per second per thread: off the beat of anything periodic

# (step, pattern on one frame "function (file:line)"); the first step found walking a stack from
# its innermost frame outwards names it, so a step listed earlier wins over the ones around it
STEPS = [
    ("logging", r"\(logging/|\(wecom_app/logs\.py"),
    ("prometheus counters", r"\(prometheus_client/"),
    ("spool (fsync)", r"\(wecom_app/callbacks/spool\.py"),
    ("db: connection checkout/return", r"\(sqlalchemy/pool/|_ConnectionFairy|_checkout|_finalize_fairy"),
    ("db: driver (psycopg / sqlite3 execute, wait)", r"\(psycopg/|\(psycopg_binary|\(sqlite3/"),
    ("db: SQLAlchemy compile/execute", r"\(sqlalchemy/"),
    ("db: receiver's group commit (InboxWriter)", r"^InboxWriter\.|^_pg_text \("),
    ("dedupe key (sha256)", r"dedupe_key \("),
    ("payload XML read (parse_event, flat_xml)", r"^parse_event \("),
    ("envelope XML parse", r"^_envelope_encrypt \("),
    ("signature check (sha1)", r"WeComCrypto\.verify|^signature \(wecom_app/callbacks/crypto\.py"),
    ("AES decrypt", r"WeComCrypto\.decrypt|\(cryptography/"),
    ("inbox row values", r"^inbox_values \("),
    ("receiver (rest)", r"\(wecom_app/callbacks/receiver\.py"),
    ("BoundedBody / deadline watchdog", r"\(wecom_app/served\.py"),
    ("floor app", r"\(bench/floor_app\.py"),
    ("gunicorn HTTP parse, socket I/O, poller", r"\(gunicorn/"),
]
_STEPS = [(name, re.compile(pattern)) for name, pattern in STEPS]


@contextlib.contextmanager
def sampling(pid: int, name: str, settle: float = 1.0):
    """py-spy over `pid` and its children while the block runs; yields the output path (or None
    when py-spy is missing, said once)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        print("    (--profile: py-spy is not installed; `pip install -e '.[dev]'`)")
        yield None
        return
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{name}.collapsed"
    process = subprocess.Popen(
        [spy, "record", "--pid", str(pid), "--subprocesses", "--gil", "--rate", str(RATE),
         "--format", "raw", "--output", str(path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )
    time.sleep(settle)  # attached before the clock starts
    try:
        yield path
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        try:
            _, err = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate()
        if not path.exists():
            print(f"    (--profile: py-spy wrote nothing: {err.decode(errors='replace').strip()[-300:]})")


def _frames(stack: str) -> list[str]:
    return [frame for frame in stack.split(";") if frame and not frame.startswith(("process ", "thread "))]


def _short(frame: str) -> str:
    """`func (/…/site-packages/pkg/mod.py:12)` -> `func (pkg/mod.py)`."""
    match = re.match(r"(.*) \((.*?)(?::\d+)?\)$", frame)
    if not match:
        return frame
    func, path = match.groups()
    if "site-packages/" in path:
        path = path.rsplit("site-packages/", 1)[1]
    elif "/wecom_app/" in path or "/bench/" in path:
        path = re.sub(r"^.*/(wecom_app|bench)/", r"\1/", path)
    else:
        path = re.sub(r"^.*/lib/python3\.\d+/", "", path)
    return f"{func} ({path})"


def summarise(path: Path, *, top: int = 15) -> str:
    """The table of a collapsed-stack file: samples by step, then by function (self)."""
    steps: Counter = Counter()
    own: Counter = Counter()
    ours: Counter = Counter()  # the app's own functions, inclusive
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = [_short(f) for f in _frames(stack)]
        if not frames:
            continue
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            if "(wecom_app/" in frame or "(handlers/" in frame:
                ours[frame] += n
        for frame in reversed(frames):  # innermost first
            step = next((name for name, pattern in _STEPS if pattern.search(frame)), None)
            if step:
                steps[step] += n
                break
        else:
            steps["other (interpreter, threads, imports)"] += n
    if not total:
        return f"  {path.name}: no samples"
    lines = [f"  profile {path.name}: {total} samples of the workers ({RATE}/s per thread)",
             "    by step of the callback path (innermost step named):"]
    lines += [f"      {count / total:6.1%}  {name}" for name, count in steps.most_common()]
    lines.append(f"    top {top} functions by own samples:")
    lines += [f"      {count / total:6.1%}  {name}" for name, count in own.most_common(top)]
    lines.append(f"    top {top} of the app's own functions, inclusive (what they and their callees took):")
    lines += [f"      {count / total:6.1%}  {name}" for name, count in ours.most_common(top)]
    text = "\n".join(lines)
    path.with_suffix(".txt").write_text(text + "\n")
    return text


if __name__ == "__main__":  # python bench/_profile.py bench/out/X.collapsed
    for arg in sys.argv[1:]:
        print(summarise(Path(arg)))
    os._exit(0)
