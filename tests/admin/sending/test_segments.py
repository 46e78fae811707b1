"""Segment counting as carriers bill it, and plain-text merge of message bodies."""

from __future__ import annotations

import pytest

from admin.services.message_body import BodyError, parse_body
from admin.services.segments import count


@pytest.mark.parametrize(
    ("text", "encoding", "segments", "units"),
    [
        ("", "GSM-7", 0, 0),
        ("a" * 160, "GSM-7", 1, 160),
        ("a" * 161, "GSM-7", 2, 161),
        ("a" * 306, "GSM-7", 2, 306),  # 2 x 153
        ("a" * 307, "GSM-7", 3, 307),
        ("€" * 80, "GSM-7", 1, 160),  # extension characters count twice
        ("€" * 81, "GSM-7", 2, 162),
        ("a" * 152 + "[" + "a" * 10, "GSM-7", 2, 164),
        ("@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¡ÄÖÑÜ§¿äöñüà", "GSM-7", 1, 41),
        ("a" * 70 + "ç", "UCS-2", 2, 71),  # ç (lower case) is not GSM-7; Ç is
        ("ç" * 70, "UCS-2", 1, 70),
        ("ç" * 134, "UCS-2", 2, 134),  # 2 x 67
        ("ç" * 135, "UCS-2", 3, 135),
        ("🎉" * 35, "UCS-2", 1, 70),  # an emoji is two UTF-16 units
        ("🎉" * 36, "UCS-2", 2, 72),
    ],
)
def test_counts(text, encoding, segments, units):
    got = count(text)
    assert (got.encoding, got.segments, got.units) == (encoding, segments, units)


def test_no_character_is_cut_between_parts():
    # 152 septets then an extension character (2 septets): it moves whole into part two.
    assert count("a" * 152 + "€" + "a" * 152).segments == 3  # 152 | 2+151 | 1
    assert count("a" * 153 + "a" * 153).segments == 2
    # UCS-2: 66 units then an emoji (2 units) moves whole into part two.
    assert count("ç" * 66 + "🎉" + "ç" * 66).segments == 3  # 66 | 2+65 | 1
    assert count("ç" * 67 + "ç" * 67).segments == 2


def test_body_merges_plain_text_with_defaults():
    body = parse_body("Hi {{first_name|friend}} {{ last_name }}, {{fields.team}}: {{link}}")
    assert body.has_link
    contact = {"first_name": "Zoë & co", "last_name": "", "fields": {"team": "a/b?c=d"}}
    assert (
        body.render(contact, "https://go.test/abc") == "Hi Zoë & co , a/b?c=d: https://go.test/abc"
    )
    assert body.render({}, "") == "Hi friend , : "
    assert not parse_body("No link").has_link


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("{{nick}}", "unknown placeholder"),
        ("{{link|x}}", "no default"),
        ("{{first_name", "not closed"),
        ("a }} b", "closes no placeholder"),
        ("x" * 1601, "longer"),
        (None, "string"),
        ("a\x00b", "control character at character 2"),
        ("a\ud800", "control character"),
    ],
)
def test_body_errors(source, problem):
    with pytest.raises(BodyError, match=problem):
        parse_body(source)
