"""The embedded Valkey asks for a password: a client without it is refused, the URL that
REDIS_URL carries has it, the password is made once and kept (0600) in the data folder, and it
never shows on the server's command line."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from smartlinks.embedded import EmbeddedRedis, free_port
from tests.conftest import Servers


def test_the_test_servers_valkey_refuses_a_client_without_the_password(servers: Servers) -> None:
    url = redis.connection.parse_url(servers.redis_url)
    assert url.get("password")
    bare = redis.Redis(host="127.0.0.1", port=url["port"], socket_timeout=2)
    with pytest.raises((redis.AuthenticationError, redis.ResponseError)):
        bare.ping()
    assert redis.Redis.from_url(servers.redis_url).ping()


def test_an_embedded_valkey_keeps_its_password_off_the_command_line(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis", free_port(), durable=False)
    proc = server.start()
    try:
        password = server.password
        assert len(password) >= 24
        assert (tmp_path / "redis" / "valkey.password").stat().st_mode & 0o077 == 0
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        assert password.encode() not in cmdline
        with pytest.raises((redis.AuthenticationError, redis.ResponseError)):
            redis.Redis(port=server.port, socket_timeout=2).ping()
        assert redis.Redis.from_url(server.url).ping()
    finally:
        proc.terminate()
        proc.wait(15)
    # Started again from the same folder: the same password (REDIS_URL stays right).
    again = EmbeddedRedis(tmp_path / "redis", server.port, durable=False)
    assert again.password == password
