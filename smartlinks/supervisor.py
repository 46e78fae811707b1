"""`smartlinks up`: everything in the foreground, supervised, stopped by Ctrl-C.

With REDIS_URL / DATABASE_URL unset it starts the embedded PostgreSQL and Valkey under the data
folder (on ports chosen once and remembered there), applies migrations, seeds the demo
organisation on the first start, then runs each role as a `smartlinks <role>` child. A child
that dies is started again after a short backoff; the others carry on. SIGINT, SIGTERM or
SIGHUP stop everything within ten seconds: the roles first (SIGTERM to each child's process
group, so granian's workers go too), then the servers (Postgres gets SIGINT, its fast
shutdown), then SIGKILL for whatever is left.
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import http.client
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import psutil

from core import config, logs
from smartlinks import demo as demo_module
from smartlinks.embedded import EmbeddedPostgres, EmbeddedRedis, free_port, write_runtime

log = logging.getLogger("smartlinks.up")

WORKER_ROLES = ("sync", "drain", "webhooks", "sender", "admin", "edge")
HTTP_ROLES = ("admin", "edge")
STOP_WORKERS_SECONDS = 6.0  # then SIGKILL; the servers get the rest of the ten seconds
STOP_TOTAL_SECONDS = 9.5
MAX_BACKOFF = 10.0
STABLE_AFTER = 10.0  # a child that ran this long starts again without delay
DEMO_LINK_GRACE = 30.0  # after edge and admin answer, wait this long for sync to publish the demo
# crawlerdetect counts curl as a bot (which gets the preview page), so the printed curl says
# it is a phone's browser.
BROWSER_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)


class Stopping(BaseException):
    """Raised by the signal handler while `up` is still starting (blocking steps)."""


@dataclass
class Child:
    """One supervised process: an embedded server or a `smartlinks <role>`."""

    name: str
    launch: Callable[[], subprocess.Popen]
    is_server: bool = False
    stop_signal: int = signal.SIGTERM
    signal_group: bool = True  # False: signal the leader only (Postgres stops its backends)
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    failures: int = 0
    due: float = 0.0

    def start(self) -> None:
        self.proc = self.launch()
        self.started_at = time.monotonic()
        logs.event(log, "child started", child=self.name, pid=self.proc.pid)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int, group: bool = True) -> None:
        if self.proc is None:
            return
        with suppress(ProcessLookupError, PermissionError):
            if group:
                os.killpg(self.proc.pid, sig)
            else:
                os.kill(self.proc.pid, sig)


@dataclass
class Supervisor:
    children: list[Child] = field(default_factory=list)
    stop_requested: bool = False
    hurry: bool = False  # a second signal: kill now
    starting: bool = True

    # -- signals -------------------------------------------------------------------------------

    def install_signals(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.stop_requested:
            self.hurry = True
            return
        self.stop_requested = True
        logs.event(log, "stopping", signal=signal.Signals(signum).name)
        if self.starting:
            raise Stopping()

    # -- running -------------------------------------------------------------------------------

    def add(self, child: Child, started: subprocess.Popen | None = None) -> Child:
        self.children.append(child)
        if started is not None:
            child.proc, child.started_at = started, time.monotonic()
        else:
            child.start()
        return child

    def tick(self) -> None:
        """Notice children that died and start them again when their backoff is over."""
        now = time.monotonic()
        for child in self.children:
            if child.proc is not None and child.proc.poll() is not None:
                code = child.proc.returncode
                # Whatever the leader left behind in its group (granian workers, backends).
                child.signal(signal.SIGKILL)
                ran = now - child.started_at
                child.failures = 0 if ran >= STABLE_AFTER else child.failures + 1
                delay = min(0.25 * 2**child.failures, MAX_BACKOFF) if child.failures else 0.25
                child.due = now + delay
                logs.event(
                    log,
                    "child exited",
                    logging.WARNING,
                    child=child.name,
                    pid=child.proc.pid,
                    code=code,
                    ran_seconds=round(ran, 1),
                    restart_in_seconds=round(delay, 2),
                )
                child.proc = None
            if child.proc is None and now >= child.due and not self.stop_requested:
                try:
                    child.start()
                except OSError as exc:
                    child.failures += 1
                    child.due = now + MAX_BACKOFF
                    logs.event(
                        log,
                        "child failed to start",
                        logging.ERROR,
                        child=child.name,
                        error=str(exc),
                    )

    def stop(self) -> None:
        """Roles first, then the servers; SIGKILL at the deadlines; nothing left behind."""
        self.stop_requested = True
        began = time.monotonic()
        workers = [c for c in self.children if not c.is_server]
        servers = [c for c in self.children if c.is_server]
        self._stop_batch(workers, began + STOP_WORKERS_SECONDS)
        self._stop_batch(servers, began + STOP_TOTAL_SECONDS)
        _kill_descendants()
        logs.event(log, "stopped", seconds=round(time.monotonic() - began, 2))

    def _stop_batch(self, batch: list[Child], deadline: float) -> None:
        for child in batch:
            if child.alive:
                child.signal(child.stop_signal, group=child.signal_group)
        while any(c.alive for c in batch) and time.monotonic() < deadline and not self.hurry:
            time.sleep(0.05)
        for child in batch:
            if child.alive:
                logs.event(log, "child killed", logging.WARNING, child=child.name)
            child.signal(signal.SIGKILL)  # the group: stragglers of a leader that exited too
            if child.proc is not None:
                with suppress(subprocess.TimeoutExpired):
                    child.proc.wait(2)


def _kill_descendants() -> None:
    """Anything still below us (a child started while a signal arrived)."""
    rest = psutil.Process().children(recursive=True)
    for proc in rest:
        with suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(rest, timeout=2)


# -- helpers ---------------------------------------------------------------------------------


def _die_with_parent(sig: int) -> Callable[[], None] | None:
    """A preexec_fn asking Linux to signal the child when `up` itself dies (even by kill -9)."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)  # loaded before fork: the child only calls it
    pr_set_pdeathsig = 1

    def preexec() -> None:
        libc.prctl(pr_set_pdeathsig, sig, 0, 0, 0)

    return preexec


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Servers set SO_REUSEADDR, so a port in TIME_WAIT is free for them too.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def remembered_ports(data_dir: Path, names: tuple[str, ...]) -> dict[str, int]:
    """Ports chosen on the first start and kept in the data folder; a taken one is replaced."""
    path = data_dir / "ports.json"
    try:
        ports = {k: int(v) for k, v in json.loads(path.read_text()).items()}
    except (OSError, ValueError, AttributeError):
        ports = {}
    changed = False
    for name in names:
        if not ports.get(name) or not port_is_free(ports[name]):
            ports[name] = free_port()
            changed = True
    if changed:
        path.write_text(json.dumps(ports))
    return ports


@contextmanager
def data_dir_lock(data_dir: Path) -> Iterator[None]:
    """One `smartlinks up` per data folder."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "up.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SystemExit(
                f"smartlinks up: another `smartlinks up` is running with the data folder {data_dir}"
            ) from None
        yield


def reap_strays(data_dir: Path) -> None:
    """Servers and roles left running by an `up` that was killed (we hold the lock now)."""
    me = os.getpid()
    ancestors = {p.pid for p in psutil.Process().parents()}
    marker = str(data_dir)
    strays = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if proc.pid == me or proc.pid in ancestors:
            continue
        cmdline = proc.info["cmdline"] or []
        if cmdline and Path(cmdline[0]).name == "postgres" and marker in " ".join(cmdline):
            strays.append(proc)  # the postmaster keeps its `-D <data folder>` command line
            continue
        if cmdline and Path(cmdline[0]).name == "valkey-server":
            # Valkey rewrites its command line, but it works in its --dir.
            with suppress(psutil.Error):
                if proc.cwd().startswith(marker):
                    strays.append(proc)
            continue
        # A role of ours (granian workers included) started for this data folder.
        if not any("smartlinks" in arg for arg in cmdline) or {"org", "up"} & set(cmdline):
            continue
        with suppress(psutil.Error):
            if proc.environ().get("SMARTLINKS_DATA_DIR") == marker:
                strays.append(proc)
    if not strays:
        return
    logs.event(log, "stopping leftovers of an earlier up", pids=[p.pid for p in strays])
    for proc in strays:
        with suppress(psutil.Error):
            proc.send_signal(signal.SIGINT if "postgres" in proc.name() else signal.SIGTERM)
    _, alive = psutil.wait_procs(strays, timeout=5)
    for proc in alive:
        with suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=2)


def available_roles() -> list[str]:
    """The roles `up` runs: those of WORKER_ROLES that this `smartlinks` has a subcommand for."""
    from smartlinks.cli import build_parser

    names: set[str] = set()
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            names.update(action.choices)
    return [role for role in WORKER_ROLES if role in names]


def http_status(
    host: str, port: int, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> int:
    """The status of one local request (0 when nothing answers); redirects are not followed."""
    conn = http.client.HTTPConnection(host, port, timeout=1)
    try:
        conn.request(method, path, headers=headers or {})
        return conn.getresponse().status
    except OSError:
        return 0
    finally:
        conn.close()


# -- up --------------------------------------------------------------------------------------


def up() -> int:
    began = time.monotonic()
    settings = config.load()
    data_dir = settings.data_dir
    sup = Supervisor()
    sup.install_signals()
    try:
        with data_dir_lock(data_dir):
            try:
                return _run(sup, settings, data_dir, began)
            except Stopping:
                return 0
            finally:
                sup.starting = False
                sup.stop()
                (data_dir / "runtime.json").unlink(missing_ok=True)
    except Stopping:
        return 0


def _run(sup: Supervisor, settings: config.Settings, data_dir: Path, began: float) -> int:
    for name, port in (("EDGE_PORT", settings.edge_port), ("ADMIN_PORT", settings.admin_port)):
        if not port_is_free(port):
            logs.event(log, "port in use", logging.ERROR, setting=name, port=port)
            print(f"smartlinks up: port {port} is in use; set {name} to another port", flush=True)
            return 1
    reap_strays(data_dir)
    database_url, redis_url = settings.database_url, settings.redis_url
    wanted = tuple(n for n, url in (("postgres", database_url), ("redis", redis_url)) if not url)
    ports = remembered_ports(data_dir, wanted)

    pg: EmbeddedPostgres | None = None
    pg_child: Child | None = None
    if not database_url:
        pg = EmbeddedPostgres(data_dir / "postgres", ports["postgres"], durable=True)
        pg.prepare()  # initdb on the first start
        pg_child = _start_server(sup, "postgres", pg, signal.SIGINT)
    if not redis_url:
        rd = EmbeddedRedis(data_dir / "redis", ports["redis"], durable=True)
        _wait_or_move(_start_server(sup, "valkey", rd, signal.SIGTERM), rd, "redis", data_dir)
        redis_url = rd.url
    if pg is not None and pg_child is not None:
        _wait_or_move(pg_child, pg, "postgres", data_dir)
        pg.ensure_database()
        database_url = pg.url
    write_runtime(data_dir, database_url=database_url, redis_url=redis_url)
    os.environ.update(
        DATABASE_URL=database_url, REDIS_URL=redis_url, SMARTLINKS_DATA_DIR=str(data_dir)
    )
    logs.event(log, "servers ready", seconds=round(time.monotonic() - began, 2))

    # The HTTP roles take the longest to import and need no schema until a request comes, so
    # they start while the migrations run; the workers start after them. The session key is
    # made first so that the admin and the migrations do not each write one.
    from admin.settings import secret_key

    secret_key(config.load())
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    roles = available_roles()
    early = [r for r in roles if r in HTTP_ROLES]
    for role in early:
        sup.add(Child(role, _role_launcher(role, env)))
    demo = _migrate_and_seed(data_dir)
    for role in roles:
        if role not in early:
            sup.add(Child(role, _role_launcher(role, env)))
    sup.starting = False
    if sup.stop_requested:
        return 0

    announced = False
    healthy_since: float | None = None
    waited_note = time.monotonic() + 60
    while not sup.stop_requested:
        sup.tick()
        if not announced and healthy_since is None and time.monotonic() > waited_note:
            logs.event(log, "still waiting for edge and admin to answer /healthz", logging.WARNING)
            waited_note = time.monotonic() + 60
        if not announced:
            if healthy_since is None and _healthy(settings):
                healthy_since = time.monotonic()
            if healthy_since is not None and (
                demo is None
                or _demo_resolves(settings, demo)
                or time.monotonic() - healthy_since > DEMO_LINK_GRACE
            ):
                ready = time.monotonic() - began
                _announce(
                    settings, demo, ready, resolved=demo is None or _demo_resolves(settings, demo)
                )
                logs.event(log, "ready", seconds=round(ready, 2))
                announced = True
        time.sleep(0.1)
    return 0


def _start_server(
    sup: Supervisor, name: str, server: EmbeddedPostgres | EmbeddedRedis, stop_signal: int
) -> Child:
    """Launch an embedded server now and supervise it (restarts do not wait for it)."""
    preexec = _die_with_parent(stop_signal)
    child = Child(
        name,
        lambda: server.launch(preexec_fn=preexec),  # reads server.port at each launch
        is_server=True,
        stop_signal=stop_signal,  # Postgres: SIGINT is its fast shutdown
        signal_group=stop_signal != signal.SIGINT,  # Postgres stops its own backends
    )
    sup.add(child)
    logs.event(log, "server starting", child=name, port=server.port)
    return child


def _wait_or_move(
    child: Child, server: EmbeddedPostgres | EmbeddedRedis, key: str, data_dir: Path
) -> None:
    """Wait until the server serves. Should another program have taken its port since we chose
    it (the server exits at once), choose another port, remember it, and start it again."""
    for attempt in range(3):
        try:
            server.wait_ready(child.proc)
            return
        except RuntimeError:
            if attempt == 2 or port_is_free(server.port):
                raise
        taken, server.port = server.port, free_port()
        path = data_dir / "ports.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), key: server.port}))
        logs.event(
            log, "port taken: moving", logging.WARNING, child=child.name, port=taken, to=server.port
        )
        child.start()


def _migrate_and_seed(data_dir: Path) -> demo_module.Demo | None:
    # Alembic logs each of its plugins when it is imported (through admin's flask-migrate).
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    from admin import create_app
    from admin.extensions import db
    from smartlinks.admin_tasks import migrate

    migrate()
    # Should alembic's env.py run logging.fileConfig (it does when no logging is set up), it
    # replaces our handler and disables the loggers that exist already: put ours back.
    logs.setup("up", config.env("LOG_LEVEL"))
    log.disabled = False
    logs.event(log, "migrations applied")
    if config.env("DEMO_SEED") in ("0", "false", "no"):
        return None
    app = create_app()
    with app.app_context():
        try:
            demo, seeded = demo_module.ensure(data_dir)
        finally:
            db.session.remove()
            db.engine.dispose()
    if seeded:
        logs.event(log, "demo organisation seeded", org_id=demo.org_id if demo else None)
    return demo


def _role_launcher(role: str, env: dict[str, str]) -> Callable[[], subprocess.Popen]:
    preexec = _die_with_parent(signal.SIGTERM)

    def launch() -> subprocess.Popen:
        # Logs go to our stdout/stderr: one JSON line per event, each naming its role.
        return subprocess.Popen(
            [sys.executable, "-m", "smartlinks.cli", role],
            env=env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own group: granian's workers are signalled with it
            preexec_fn=preexec,
        )

    return launch


def local_address(bind_host: str) -> str:
    """Where to reach a server bound to ``bind_host`` from this machine."""
    return "127.0.0.1" if bind_host in ("", "0.0.0.0", "::", "localhost") else bind_host  # noqa: S104


def _healthy(settings: config.Settings) -> bool:
    return (
        http_status(local_address(settings.admin_host), settings.admin_port, "/healthz") == 200
        and http_status(local_address(settings.edge_host), settings.edge_port, "/healthz") == 200
    )


def _demo_resolves(settings: config.Settings, demo: demo_module.Demo) -> bool:
    """Sync has published the demo link: the edge knows the code (HEAD counts no click)."""
    status = http_status(
        local_address(settings.edge_host),
        settings.edge_port,
        demo.path(),
        "HEAD",
        {"Host": demo.hostname, "User-Agent": BROWSER_UA},
    )
    return status not in (0, 404) and status < 500


def _announce(
    settings: config.Settings, demo: demo_module.Demo | None, ready: float, resolved: bool
) -> None:
    edge = f"http://{local_address(settings.edge_host)}:{settings.edge_port}"
    lines = [
        "",
        f"Smart Links is up (ready in {ready:.1f}s). Ctrl-C stops everything.",
        f"  admin:     {settings.public_admin_url}/",
        f"  edge:      {edge}/",
    ]
    if demo is not None:
        short_url = f"{settings.short_url_scheme}://{demo.hostname}{demo.path()}"
        lines += [
            f"  login:     {demo.email}  password: {demo.password}",
            f"  demo link: {short_url}  (issued for {demo.first_name})",
            "  follow it:",
            f"    curl -i -A '{BROWSER_UA}' -H 'Host: {demo.hostname}' {edge}{demo.path()}",
        ]
        if not resolved:
            lines.append(
                "  (the edge does not know the demo link yet: is `smartlinks sync` running?)"
            )
    lines += [
        "  API token: smartlinks org create --name NAME --email EMAIL --password PASSWORD",
        "",
    ]
    print("\n".join(lines), flush=True)
