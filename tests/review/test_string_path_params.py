"""Odd text in the string parts of paths (invitation tokens, media ids): never a 500."""

from __future__ import annotations

import pytest

ODD = ["%00", "a%00b", "%C2%B2", "x" * 5000, "%FF", "..", "%2F"]


@pytest.mark.parametrize("odd", ODD)
def test_invitation_and_media_paths(client, org, odd):
    for path in [f"/invite/{odd}", f"/media/{odd}.png", f"/media/abc.{odd}"]:
        assert client.get(path).status_code < 500, path
        assert client.post(path, data={"password": "x" * 20}).status_code < 500, path
