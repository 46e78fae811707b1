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

import dataclasses
import http.client
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from core import config, logs, runtime
from smartlinks import demo as demo_module
from smartlinks.cluster import EmbeddedCluster, check_layout, free_node_port
from smartlinks.datafolder import data_dir_lock, port_is_free, remembered_ports
from smartlinks.embedded import EmbeddedPostgres, EmbeddedRedis, free_port, write_runtime
from smartlinks.processes import Child, Stopping, Supervisor, die_with_parent, reap_strays
from smartlinks.roles import ROLES

log = logging.getLogger("smartlinks.up")

DEMO_LINK_GRACE = 30.0  # after edge and admin answer, wait this long for sync to publish the demo
# crawlerdetect counts curl as a bot (which gets the preview page), so the printed curl says
# it is a phone's browser.
BROWSER_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)


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


def up(settings: config.Settings) -> int:
    began = time.monotonic()
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
                runtime.remove(data_dir)
    except Stopping:
        return 0


def _run(sup: Supervisor, settings: config.Settings, data_dir: Path, began: float) -> int:
    for name, port in (("EDGE_PORT", settings.edge.port), ("ADMIN_PORT", settings.admin.port)):
        if not port_is_free(port):
            logs.event(log, "port in use", logging.ERROR, setting=name, port=port)
            print(f"smartlinks up: port {port} is in use; set {name} to another port", flush=True)
            return 1
    reap_strays(data_dir)
    database_url, redis_url = settings.database_url, settings.redis_url
    shards = 1 if redis_url else settings.redis.embedded_shards
    # A local cluster's nodes have their own ports (_start_cluster).
    wanted = ("postgres",) * (not database_url) + ("redis",) * (not redis_url and shards == 1)
    ports = remembered_ports(data_dir, wanted)

    pg: EmbeddedPostgres | None = None
    pg_child: Child | None = None
    if not database_url:
        pg = EmbeddedPostgres(data_dir / "postgres", ports["postgres"], durable=True)
        pg.prepare()  # initdb on the first start
        pg_child = _start_server(sup, "postgres", pg, signal.SIGINT)
    cluster = settings.redis.cluster
    if not redis_url and shards > 1:
        redis_url, cluster = _start_cluster(sup, settings, data_dir), True
    elif not redis_url:
        rd = EmbeddedRedis(data_dir / "redis", ports["redis"], durable=True)
        _wait_or_move(_start_server(sup, "valkey", rd, signal.SIGTERM), rd, "redis", data_dir)
        redis_url = rd.url
    if pg is not None and pg_child is not None:
        _wait_or_move(pg_child, pg, "postgres", data_dir)
        pg.ensure_database()
        database_url = pg.url
    where = {"database_url": database_url, "redis_url": redis_url}
    if cluster:  # so that every role, and a command run from another shell, uses it as one
        where.update(redis_cluster="1", redis_partitions=str(settings.redis.partitions))
    write_runtime(data_dir, **where)
    # The roles read their settings from their environment; this process goes on with its own.
    os.environ.update(
        DATABASE_URL=database_url, REDIS_URL=redis_url, SMARTLINKS_DATA_DIR=str(data_dir)
    )
    if cluster:
        os.environ.update(REDIS_CLUSTER="1", REDIS_PARTITIONS=str(settings.redis.partitions))
    settings = dataclasses.replace(settings, database_url=database_url, redis_url=redis_url)
    logs.event(log, "servers ready", seconds=round(time.monotonic() - began, 2))

    # The HTTP roles take the longest to import and need no schema until a request comes, so
    # they start while the migrations run; the workers start after them. The session key is
    # made first so that the admin and the migrations do not each write one.
    from admin.settings import secret_key
    from sync import crypto

    secret_key(settings)
    crypto.key_text(settings.data_dir)  # the stored secrets' key likewise, before the roles
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for role in ROLES:
        if role.http:
            sup.add(Child(role.name, _role_launcher(role.name, env)))
    demo = _migrate_and_seed(settings)
    for role in ROLES:
        if not role.http:
            sup.add(Child(role.name, _role_launcher(role.name, env)))
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
    preexec = die_with_parent(stop_signal)
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


def _start_cluster(sup: Supervisor, settings: config.Settings, data_dir: Path) -> str:
    """EMBEDDED_REDIS_SHARDS masters (and EMBEDDED_REDIS_REPLICAS replicas each), supervised
    one by one, formed into a cluster on the first start (smartlinks/cluster.py); the URL of
    one node."""
    shards, replicas = settings.redis.embedded_shards, settings.redis.embedded_replicas
    folder = data_dir / "redis-cluster"
    check_layout(folder, shards, replicas)
    names = tuple(f"redis-cluster-{n}" for n in range(shards * (1 + replicas)))
    ports = remembered_ports(data_dir, names, choose=free_node_port)
    cluster = EmbeddedCluster(folder, [ports[n] for n in names], replicas, durable=True)
    children = [
        _start_server(sup, f"valkey-{n}", node, signal.SIGTERM)
        for n, node in enumerate(cluster.nodes)
    ]
    for child, node in zip(children, cluster.nodes, strict=True):
        node.wait_ready(child.proc)
    cluster.form(alive=lambda: all(child.alive for child in children))
    logs.event(log, "cluster ready", masters=shards, replicas=replicas,
               partitions=settings.redis.partitions)  # fmt: skip
    return cluster.url


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


def _migrate_and_seed(settings: config.Settings) -> demo_module.Demo | None:
    # Alembic logs each of its plugins when it is imported (through admin's flask-migrate).
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    from admin import create_app
    from admin.extensions import db
    from smartlinks.admin_tasks import migrate

    migrate(settings)
    # Should alembic's env.py run logging.fileConfig (it does when no logging is set up), it
    # replaces our handler and disables the loggers that exist already: put ours back.
    logs.setup("up", settings.log_level)
    log.disabled = False
    logs.event(log, "migrations applied")
    if not settings.demo_seed:
        return None
    app = create_app(settings=settings)
    with app.app_context():
        try:
            demo, seeded = demo_module.ensure(settings.data_dir)
        finally:
            db.session.remove()
            db.engine.dispose()
    if seeded:
        logs.event(log, "demo organisation seeded", org_id=demo.org_id if demo else None)
    return demo


def _role_launcher(role: str, env: dict[str, str]) -> Callable[[], subprocess.Popen]:
    preexec = die_with_parent(signal.SIGTERM)

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
        http_status(local_address(settings.admin.host), settings.admin.port, "/healthz") == 200
        and http_status(local_address(settings.edge.host), settings.edge.port, "/healthz") == 200
    )


def _demo_resolves(settings: config.Settings, demo: demo_module.Demo) -> bool:
    """Sync has published the demo link: the edge knows the code (HEAD counts no click)."""
    status = http_status(
        local_address(settings.edge.host),
        settings.edge.port,
        demo.path(),
        "HEAD",
        {"Host": demo.hostname, "User-Agent": BROWSER_UA},
    )
    return status not in (0, 404) and status < 500


def _announce(
    settings: config.Settings, demo: demo_module.Demo | None, ready: float, resolved: bool
) -> None:
    edge = f"http://{local_address(settings.edge.host)}:{settings.edge.port}"
    lines = [
        "",
        f"Smart Links is up (ready in {ready:.1f}s). Ctrl-C stops everything.",
        f"  admin:     {settings.admin.public_url}/",
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
