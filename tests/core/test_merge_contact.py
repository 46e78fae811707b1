"""core.merge.merges_contact: whether a destination needs the contact's record."""

from __future__ import annotations

import pytest

from core.merge import merges_contact


@pytest.mark.parametrize(
    ("destination", "needs_contact"),
    [
        ("https://example.org/donate", False),
        ("https://example.org/donate?ref={{source}}", False),
        ("https://example.org/donate?ref={{source|sms}}#top", False),
        ("https://example.org/?c={{contact_id}}", True),
        ("https://example.org/{{fields.team|all}}", True),
        ("https://example.org/?ref={{source}}&n={{first_name}}", True),
        ("not a destination {{first_name}}", True),  # unparsable: read it, the edge decides
    ],
)
def test_merges_contact(destination: str, needs_contact: bool) -> None:
    assert merges_contact(destination) is needs_contact
