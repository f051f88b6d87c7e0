"""Shared pieces of the benchmarks: settings, servers under gunicorn, a load
generator and the figures it prints.

Everything here targets loopback only and cleans up after itself: servers are
started in their own process group and stopped (TERM, then KILL) on exit,
including Ctrl-C; temporary directories are removed.
"""

from __future__ import annotations

import array
import contextlib
import multiprocessing
import os
import re
import secrets
import selectors
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"
LOOPBACK = "127.0.0.1"
_ALNUM = string.ascii_letters + string.digits


def bench_settings() -> dict[str, str]:
    """Throw-away WeCom settings for a benchmark run (never real secrets)."""
    return {
        "WECOM_CORP_ID": "wwbench" + secrets.token_hex(5),
        "WECOM_AGENT_ID": "1000002",
        "WECOM_SECRET": secrets.token_hex(16),
        "WECOM_TOKEN": "".join(secrets.choice(_ALNUM) for _ in range(32)),
        "WECOM_AES_KEY": "".join(secrets.choice(_ALNUM) for _ in range(43)),
        "SECRET_KEY": secrets.token_hex(24),
    }


def cpu_snapshot() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values) - idle, sum(values)


def busy_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """Share of all CPUs busy between two snapshots (0..1)."""
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total else 0.0


def machine_idle_check(seconds: float = 1.0, threshold: float = 0.15) -> str | None:
    """A warning when something else is using the CPUs: the figures would be low."""
    before = cpu_snapshot()
    time.sleep(seconds)
    share = busy_share(before, cpu_snapshot())
    if share > threshold:
        return (f"warning: the machine is {share:.0%} busy before the run (other processes); "
                "figures will be lower than on an idle machine")
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def terminate_on_sigterm():
    """Turn SIGTERM into KeyboardInterrupt so every `finally` (servers, temp dirs) runs."""

    def _raise(_signum, _frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _raise)
    # a shell starts background jobs with SIGINT ignored; Ctrl-C must still clean up
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


@contextlib.contextmanager
def scratch_dir(prefix: str = "wecom-bench-"):
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------- servers


def children(pid: int) -> list[int]:
    pids = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError, ValueError):
            pids += [int(p) for p in (task / "children").read_text().split()]
    return pids


def cpu_seconds(pids: list[int], *, reaped: bool = False) -> float:
    """User+system CPU the processes `pids` have used so far (from /proc); with
    `reaped`, also what their children that already exited used (cutime, cstime)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(v) for v in fields[11 : 15 if reaped else 13])
    return total / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process and its children, living or exited (PostgreSQL's backends
    come and go as connection pools open and close connections)."""
    return cpu_seconds([pid], reaped=True) + cpu_seconds(children(pid))


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen
    log_path: Path

    def worker_pids(self) -> list[int]:
        """The gunicorn workers: the master's children."""
        return children(self.process.pid)

    def cpu_seconds(self) -> float:
        """User+system CPU of the workers so far."""
        return cpu_seconds(self.worker_pids())

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


@contextlib.contextmanager
def gunicorn(name: str, app: str, env: dict[str, str], workdir: Path, *, workers: int, threads: int,
             ready_path: str = "/healthz", start_timeout: float = 30.0):
    """Run `app` under deploy/gunicorn.conf.py on a free loopback port; stop it on exit."""
    port = free_port()
    log_path = workdir / f"{name}.log"
    full_env = {
        **os.environ, **env,
        "GUNICORN_BIND": f"{LOOPBACK}:{port}", "GUNICORN_WORKERS": str(workers),
        "GUNICORN_THREADS": str(threads), "GUNICORN_ACCESS_LOG": "",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")])),
    }
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), app],
            cwd=workdir, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    server = Server(name, port, process, log_path)
    try:
        _wait_ready(server, ready_path, workers, start_timeout)
        yield server
    finally:
        _stop(process)


def _wait_ready(server: Server, path: str, workers: int, timeout: float) -> None:
    """Poll until every worker has booted and the app answers `path` with 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name}: gunicorn exited with {server.process.returncode}:\n{server.log_tail()}")
        booted = server.log_tail(200).count("Booting worker")
        if booted >= workers and http_get(server.port, path) == 200:
            # one request per worker is not guaranteed, so give the others a moment to import
            time.sleep(0.3)
            return
        time.sleep(0.1)
    raise RuntimeError(f"{server.name}: not ready after {timeout:.0f}s:\n{server.log_tail()}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def http_get(port: int, path: str) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        with socket.create_connection((LOOPBACK, port), timeout=2) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {LOOPBACK}\r\nConnection: close\r\n\r\n".encode())
            head = sock.recv(64)
            return int(head[9:12])
    return None


# ---------------------------------------------------------------- requests


def callback_request(crypto, plaintext: bytes, *, path: str = "/wecom/callback", host: str = LOOPBACK,
                     timestamp: int | None = None) -> bytes:
    """One complete HTTP/1.1 POST as WeCom sends it: a fresh envelope (random prefix, nonce) each call."""
    from wecom_app.callbacks.crypto import signature

    encrypted = crypto.encrypt(plaintext)
    ts = str(timestamp or int(time.time()))
    nonce = str(secrets.randbelow(10**10))
    sig = signature(crypto.token, ts, nonce, encrypted)
    body = (
        f"<xml><ToUserName><![CDATA[{crypto.receive_id}]]></ToUserName><AgentID><![CDATA[1000002]]></AgentID>"
        f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    ).encode()
    query = f"msg_signature={sig}&timestamp={ts}&nonce={quote(nonce)}"
    head = (
        f"POST {path}?{query} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: Mozilla/4.0\r\n"
        f"Accept: */*\r\nContent-Type: text/xml\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


# ---------------------------------------------------------------- load


@dataclass
class LoadResult:
    sent: int = 0
    elapsed: float = 0.0
    latencies: array.array = field(default_factory=lambda: array.array("d"))
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    reconnects: int = 0
    client_cpu: float = 0.0
    machine_busy: float = 0.0  # share of all CPUs busy during the run, whoever used them

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed if self.elapsed else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        if getattr(self, "_sorted_n", -1) != len(self.latencies):
            self._sorted, self._sorted_n = sorted(self.latencies), len(self.latencies)
        return self._sorted[min(len(self._sorted) - 1, int(q / 100 * len(self._sorted)))]


_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
_CLOSE = re.compile(rb"\r\nconnection:\s*close", re.IGNORECASE)


def run_load(port: int, requests: list[bytes], concurrency: int, processes: int,
             request_timeout: float = 10.0, max_seconds: float = 300.0) -> LoadResult:
    """Send `requests` over `concurrency` keep-alive connections spread over `processes`
    forked client processes, each a non-blocking selector loop over pre-built bytes
    (no HTTP library on the hot path). Process i sends requests[i::processes] in order."""
    processes = max(1, min(processes, concurrency))
    ctx = multiprocessing.get_context("fork")
    go = ctx.Event()
    pipes, children = [], []
    for index in range(processes):
        share = concurrency // processes + (1 if index < concurrency % processes else 0)
        reader, writer = ctx.Pipe(duplex=False)
        child = ctx.Process(
            target=_client_main,
            args=(writer, go, port, requests[index::processes], share, request_timeout, max_seconds),
            daemon=True,
        )
        child.start()
        writer.close()
        pipes.append(reader)
        children.append(child)
    result = LoadResult()
    try:
        # every child reports "connected" before the clock starts
        for reader in pipes:
            if not reader.poll(30):
                raise RuntimeError("a load client did not connect within 30 s")
            message = reader.recv()
            if message != "ready":
                raise RuntimeError(f"a load client failed: {message}")
        cpu_before = cpu_snapshot()
        go.set()
        starts, ends = [], []
        for reader in pipes:
            if not reader.poll(max_seconds + request_timeout + 30):
                raise RuntimeError("a load client did not finish in time")
            part = reader.recv()
            if isinstance(part, str):
                raise RuntimeError(f"a load client failed: {part}")
            starts.append(part["start"])
            ends.append(part["end"])
            result.sent += part["sent"]
            result.latencies.frombytes(part["latencies"])
            result.statuses.update(part["statuses"])
            result.errors.update(part["errors"])
            result.reconnects += part["reconnects"]
            result.client_cpu += part["cpu"]
        result.elapsed = max(ends) - min(starts)
        result.machine_busy = busy_share(cpu_before, cpu_snapshot())
    except BaseException:
        for child in children:
            child.kill()  # interrupted or failed: stop sending at once
        raise
    finally:
        for child in children:
            child.join(timeout=5)
            if child.is_alive():
                child.kill()
                child.join()
    return result


def _client_main(pipe, go, port, requests, connections, request_timeout, max_seconds) -> None:
    try:
        out = _client(pipe, go, port, requests, connections, request_timeout, max_seconds)
    except Exception as exc:  # reported to the parent, which raises
        pipe.send(f"{type(exc).__name__}: {exc}")
        return
    pipe.send(out)


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection((LOOPBACK, port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setblocking(False)
    return sock


def _client(pipe, go, port, requests, connections, request_timeout, max_seconds) -> dict:
    perf = time.perf_counter
    connections = max(1, min(connections, len(requests)))
    sel = selectors.DefaultSelector()
    # per connection: [socket, index in flight or -1, start time, buffer]
    states = []
    for _ in range(connections):
        state = [_connect(port), -1, 0.0, b""]
        sel.register(state[0], selectors.EVENT_READ, state)
        states.append(state)
    pipe.send("ready")
    go.wait()
    cpu0 = sum(os.times()[:2])
    latencies = array.array("d")
    statuses: Counter = Counter()
    errors: Counter = Counter()
    reconnects = 0
    next_index, done, total = 0, 0, len(requests)
    start = perf()
    hard_stop = start + max_seconds

    def send(state) -> None:
        nonlocal next_index
        state[1], state[2], state[3] = next_index, perf(), b""
        state[0].sendall(requests[next_index])  # a few hundred bytes: fits the socket buffer
        next_index += 1

    def resend(state) -> None:
        nonlocal reconnects
        reconnects += 1  # not an error: the request is sent again on a new connection
        sel.unregister(state[0])
        state[0].close()
        state[0] = _connect(port)
        sel.register(state[0], selectors.EVENT_READ, state)
        index = state[1]
        state[2], state[3] = perf(), b""
        state[0].sendall(requests[index])

    def reopen(state) -> None:
        """Close the connection and, if requests remain, send the next one on a new one."""
        sel.unregister(state[0])
        state[0].close()
        if next_index < total:
            state[0] = _connect(port)
            sel.register(state[0], selectors.EVENT_READ, state)
            send(state)

    for state in states:
        if next_index < total:
            send(state)
    while done < total:
        now = perf()
        if now > hard_stop:
            errors["run_timeout"] += total - done
            break
        events = sel.select(timeout=0.5)
        if not events:
            for state in states:
                if state[1] >= 0 and perf() - state[2] > request_timeout:
                    errors["timeout"] += 1
                    done += 1
                    state[1] = -1
                    reopen(state)
            continue
        for key, _mask in events:
            state = key.data
            try:
                data = state[0].recv(65536)
            except ConnectionError:
                data = b""
            if not data:
                if state[1] >= 0 and not state[3]:
                    resend(state)  # keep-alive closed under us before answering: WeCom would retry too
                elif state[1] >= 0:
                    errors["closed_mid_response"] += 1
                    done += 1
                    state[1] = -1
                continue
            buf = state[3] + data
            head_end = buf.find(b"\r\n\r\n")
            if head_end < 0:
                state[3] = buf
                continue
            match = _CONTENT_LENGTH.search(buf, 0, head_end + 2)
            length = int(match.group(1)) if match else 0
            if len(buf) < head_end + 4 + length:
                state[3] = buf
                continue
            latencies.append(perf() - state[2])
            statuses[int(buf[9:12])] += 1
            done += 1
            state[1] = -1
            if _CLOSE.search(buf, 0, head_end + 2):
                reopen(state)
                continue
            if next_index < total:
                send(state)
    end = perf()
    for state in states:
        with contextlib.suppress(Exception):
            sel.unregister(state[0])
        state[0].close()
    return {
        "sent": next_index, "start": start, "end": end, "latencies": latencies.tobytes(),
        "statuses": dict(statuses), "errors": {k: v for k, v in errors.items() if v},
        "reconnects": reconnects, "cpu": sum(os.times()[:2]) - cpu0,
    }


def format_result(label: str, result: LoadResult, server_cpu: float | None = None,
                  db_cpu: float | None = None) -> str:
    ms = lambda s: f"{s * 1000:.1f}"  # noqa: E731
    statuses = " ".join(f"{code}={count}" for code, count in sorted(result.statuses.items()))
    lines = [
        f"  {label}: {result.rate:,.0f} events/s  ({result.sent} requests in {result.elapsed:.2f} s)",
        f"    latency ms: p50 {ms(result.percentile(50))}  p95 {ms(result.percentile(95))}  "
        f"p99 {ms(result.percentile(99))}  max {ms(max(result.latencies, default=0))}",
        f"    HTTP: {statuses or '-'}" + (f"  errors: {dict(result.errors)}" if result.errors else "")
        + (f"  reconnects: {result.reconnects}" if result.reconnects else ""),
    ]
    cpu = f"    CPU per request: client {result.client_cpu / max(result.sent, 1) * 1e6:.0f} us"
    if server_cpu is not None:
        cpu += f", gunicorn workers {server_cpu / max(result.sent, 1) * 1e6:.0f} us"
    if db_cpu is not None:
        cpu += f", PostgreSQL {db_cpu / max(result.sent, 1) * 1e6:.0f} us"
    cpu += f"; machine {result.machine_busy:.0%} busy"
    lines.append(cpu)
    return "\n".join(lines)
