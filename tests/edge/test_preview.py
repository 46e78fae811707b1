"""The preview page builder (in-process; the served page is tested through granian in
test_visits.py)."""

from __future__ import annotations

from core.records import DomainRecord, LinkRecord
from edge.preview import image_url, render_preview

DOMAIN = DomainRecord(id=1, org_id=1, hostname="go.example.test", version=1)


def _link(**kw: object) -> LinkRecord:
    fields: dict = dict(
        id=1, org_id=1, domain_id=1, hostname="go.example.test", version=1,
        destination="https://example.org/x",
    )  # fmt: skip
    fields.update(kw)
    return LinkRecord(**fields)


def test_uploaded_image_path_becomes_an_absolute_admin_url():
    link = _link(preview_image_url="/media/abc.jpg")
    assert (
        image_url(link, "https://admin.example.org/") == "https://admin.example.org/media/abc.jpg"
    )
    assert image_url(_link(preview_image_url="//evil.example/x.jpg"), "https://a.example") == ""
    assert image_url(_link(preview_image_url="data:image/png;base64,AAAA"), "https://a") == ""


def test_page_stays_under_a_megabyte_whatever_the_record_holds():
    link = _link(preview_title="<" * 500_000, preview_description="&" * 900_000)
    page = render_preview(
        domain=DOMAIN, link=link, page_url="https://go.example.test/Ab3dEf7",
        destination="https://example.org/x?" + "a" * 7000, public_admin_url="https://a.example",
    )  # fmt: skip
    assert len(page) < 1_000_000
    assert b"<<" not in page


def test_no_destination_means_no_link():
    page = render_preview(
        domain=DOMAIN, link=_link(), page_url="https://go.example.test/Ab3dEf7",
        destination=None, public_admin_url="https://a.example",
    )  # fmt: skip
    assert b"<a " not in page and b"og:title" in page
