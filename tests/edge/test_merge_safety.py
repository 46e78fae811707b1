"""No contact value can change the scheme, host or port of a redirect, nor put a control
character (or any non-ASCII byte) into Location: property tests on the edge's redirect builder."""

from __future__ import annotations

import string
from urllib.parse import urlsplit

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.merge import parse_template
from core.records import ContactRecord
from edge.destinations import build_location, defaults_only, template_for

TEMPLATES = [
    "https://example.org/rsvp?first={{first_name}}&src={{fields.source|sms}}",
    "https://example.org/{{first_name}}/{{last_name|x}}",
    "http://example.org:8080/p/{{phone}}?e={{email}}#{{fields.note}}",
    "https://example.org/{{fields.path}}",
    "https://example.org?{{first_name}}",
    "https://example.org#{{first_name}}",
    "https://[2001:db8::1]:8443/x/{{first_name}}?q={{fields.q}}",
    "https://bücher.example/straße/{{first_name}}?x={{fields.x}}",
    "https://example.org/a/{{first_name}}{{last_name}}?{{fields.k}}={{fields.v}}",
]

# Values meant to break out: URL structure, credentials, ports, CR/LF, NUL, unicode separators,
# look-alike slashes, percent signs, plus anything hypothesis invents.
NASTY = st.sampled_from(
    [
        "@evil.example",
        "//evil.example",
        ":80",
        "\r\nLocation: https://evil.example",
        "\x00",
        "\u2028",
        "\ufeff",
        "..",
        "../../admin",
        "%2F%2Fevil",
        "\\\\evil.example",
        "／／evil",
        "#frag?q",
        "https://evil.example/",
        "\x7f\x85\x9f",
        " ",
    ]
)
VALUES = st.one_of(NASTY, st.text(max_size=60), st.text(alphabet=string.printable, max_size=60))


@st.composite
def contacts(draw: st.DrawFn) -> ContactRecord:
    keys = ["source", "note", "path", "q", "x", "k", "v"]
    return ContactRecord(
        id=1,
        org_id=1,
        version=1,
        first_name=draw(VALUES),
        last_name=draw(VALUES),
        phone=draw(VALUES),
        email=draw(VALUES),
        fields={k: draw(VALUES) for k in keys},
    )


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=st.sampled_from(TEMPLATES), contact=contacts())
def test_contact_values_cannot_change_origin_or_inject_characters(
    source: str, contact: ContactRecord
):
    template = template_for(source)
    assert template is not None
    location = build_location(template, contact)
    assert location is not None
    url = location.url
    assert url.isascii()
    assert all(0x21 <= ord(c) < 0x7F for c in url), repr(url)
    expected = defaults_only(template)
    assert expected is not None
    assert _origin(url) == _origin(expected)
    # the same check on the parsed template's literal origin (for ASCII hosts)
    if source.isascii():
        assert url.startswith(parse_template(source).origin)
        assert url[len(template.origin) : len(template.origin) + 1] in ("", "/", "?", "#")


@settings(max_examples=100, deadline=None)
@given(contact=contacts())
def test_header_bytes_are_safe(contact: ContactRecord):
    template = template_for(TEMPLATES[0])
    assert template is not None
    location = build_location(template, contact)
    assert location is not None
    raw = location.url.encode("ascii")
    assert b"\r" not in raw and b"\n" not in raw and b" " not in raw


def test_too_long_merge_falls_back_to_defaults():
    template = template_for(TEMPLATES[0])
    assert template is not None
    contact = ContactRecord(id=1, org_id=1, version=1, first_name="é" * 3000)
    location = build_location(template, contact)
    assert location is not None and location.merge_fallback
    assert location.url == "https://example.org/rsvp?first=&src=sms"


def test_iri_destination_goes_out_as_ascii():
    template = template_for(TEMPLATES[7])
    assert template is not None
    location = build_location(template, ContactRecord(id=1, org_id=1, version=1, first_name="Zoë"))
    assert location is not None
    assert location.url == "https://xn--bcher-kva.example/stra%C3%9Fe/Zo%C3%AB?x="


def test_contact_id_attributes_a_donation_to_its_message() -> None:
    """{{contact_id}}: e.g. an ActBlue refcode, so a donation can be traced to its message."""
    template = parse_template("https://secure.actblue.com/donate/x?refcode=sms_{{contact_id}}")
    contact = ContactRecord(id=4711, org_id=1, version=1, first_name="Ana")
    assert template.render(contact) == "https://secure.actblue.com/donate/x?refcode=sms_4711"
    generic = parse_template("https://example.org/?c={{contact_id|none}}")
    assert generic.render(None) == "https://example.org/?c=none"
