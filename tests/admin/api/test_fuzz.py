"""Arbitrary text through destination validation and placeholder parsing: never a 500, and
whatever is accepted merges into a URL that keeps its scheme, host and port."""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from core.merge import check_merged, parse_template
from core.records import ContactRecord

URL_PIECES = st.sampled_from(
    ["https://", "http://", "ftp://", "//", "example.org", "go.test", ":8080", ":0", "@", "/",
     "?", "#", "&", "=", "%", "%2F", "\\", "{{", "}}", "|", "{", "}", " ", "\t", "\n", "\x00",
     "first_name", "fields.x", "fields.", "email", "phone", "nope", "..", "é", "ü", "\u202e",
     "[::1]", "xn--", "\ud7ff", "a" * 300]
)  # fmt: skip
TEMPLATE_TEXT = st.one_of(
    st.text(max_size=200),
    st.lists(st.one_of(URL_PIECES, st.text(max_size=10)), max_size=25).map("".join),
    st.builds(
        lambda a, b, c: f"https://example.org/{a}{{{{{b}}}}}{c}",
        st.text(max_size=20),
        st.text(max_size=20),
        st.text(max_size=20),
    ),
)
VALUES = st.text(max_size=50)
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(destination=TEMPLATE_TEXT, first=VALUES, field=VALUES)
def test_create_link_with_any_destination(api, destination, first, field):
    if not api.get("/api/v1/domains").get_json()["domains"]:
        api.post("/api/v1/domains", {"hostname": "go.fuzz.test"})
    resp = api.post("/api/v1/links", {"destination": destination, "domain": "go.fuzz.test"})
    assert resp.status_code in (201, 422), (destination, resp.get_data(as_text=True))
    if resp.status_code == 422:
        assert resp.get_json()["error"]["field"] == "destination"
        return
    stored = resp.get_json()["destination"]
    template = parse_template(stored)
    contact = ContactRecord(id=1, org_id=1, version=1, first_name=first, fields={"x": field})
    merged = template.render(contact)
    assert check_merged(merged, template) or len(merged.encode()) > 8000, merged


@FUZZ
@given(destination=TEMPLATE_TEXT)
@example(destination="HTTP://[::]A")  # httpx's InvalidURL (not an HTTPError) was a 500
def test_patch_link_with_any_destination(api, destination):
    links = api.get("/api/v1/links").get_json()["links"]
    if not links:
        api.post("/api/v1/domains", {"hostname": "go.fuzz.test"})
        links = [
            api.post(
                "/api/v1/links", {"destination": "https://example.org/", "domain": "go.fuzz.test"}
            ).get_json()
        ]
    resp = api.patch(f"/api/v1/links/{links[0]['id']}", {"destination": destination})
    assert resp.status_code in (200, 422), (destination, resp.get_data(as_text=True))


@FUZZ
@given(
    hostname=st.one_of(st.text(max_size=80), URL_PIECES),
    fallback=TEMPLATE_TEXT,
    name=st.text(max_size=30),
    phone=st.text(max_size=30),
)
def test_other_text_fields_never_500(api, hostname, fallback, name, phone):
    domain = api.post("/api/v1/domains", {"hostname": hostname, "fallback_url": fallback})
    assert domain.status_code in (201, 409, 422), (hostname, fallback)
    contact = api.post(
        "/api/v1/contacts", {"phone": phone, "first_name": name, "fields": {"f": name}}
    )
    assert contact.status_code in (201, 409, 422), (phone, name)


@FUZZ
@given(raw=st.binary(max_size=300))
def test_any_bytes_as_a_body(api, raw):
    for path in ("/api/v1/links", "/api/v1/contacts", "/api/v1/domains"):
        resp = api.client.post(
            path, data=raw, headers={**api.headers, "Content-Type": "application/json"}
        )
        assert resp.status_code in (201, 400, 404, 409, 422), (path, raw)
