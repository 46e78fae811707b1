"""Preview images: type by content (never by name), dimensions from the headers, public URL."""

from __future__ import annotations

import pytest
from flask import Flask

from admin.services import uploads
from admin.services.errors import ValidationError
from admin.services.orgs import NewOrg
from tests.helpers import images
from tests.helpers.web import Web


@pytest.mark.parametrize(
    ("data", "ctype", "size"),
    [
        (images.png(1200, 630), "image/png", (1200, 630)),
        (images.gif_header(640, 480), "image/gif", (640, 480)),
        (images.jpeg_header(1920, 1080), "image/jpeg", (1920, 1080)),
        (images.webp_vp8x(1000, 523), "image/webp", (1000, 523)),
        (images.webp_vp8l(300, 200), "image/webp", (300, 200)),
        (images.webp_vp8(901, 400), "image/webp", (901, 400)),
    ],
)
def test_inspect_reads_type_and_size_from_content(
    data: bytes, ctype: str, size: tuple[int, int]
) -> None:
    info = uploads.inspect_image(data)
    assert (info.content_type, info.width, info.height) == (ctype, *size)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"%PDF-1.7 not an image",
        b"\x89PNG\r\n\x1a\n",  # a signature and nothing else
        b"\xff\xd8\xff\xd9",  # a JPEG with no frame
        images.gif_header(0, 10),
    ],
)
def test_inspect_refuses_what_is_not_a_readable_image(data: bytes) -> None:
    with pytest.raises(ValidationError) as err:
        uploads.inspect_image(data)
    assert err.value.field == "image"


def test_inspect_refuses_more_than_10_mb() -> None:
    with pytest.raises(ValidationError, match="10 MB"):
        uploads.inspect_image(images.png(10, 10) + b"\x00" * (10 * 1024 * 1024))


def test_stored_image_is_served_publicly_with_a_long_cache(app: Flask, org: NewOrg) -> None:
    data = images.png(1200, 630)
    upload = uploads.store_image(org.org_id, data)
    app.extensions["sqlalchemy"].session.commit()
    assert uploads.store_image(org.org_id, data).id == upload.id  # same bytes, same upload
    url = uploads.public_url(upload, app.config["PUBLIC_ADMIN_URL"])
    assert url.startswith(app.config["PUBLIC_ADMIN_URL"] + "/media/") and url.endswith(".png")
    client = app.test_client()  # no login: fetchers load it
    response = client.get(uploads.media_path(upload))
    assert response.status_code == 200
    assert response.data == data
    assert response.mimetype == "image/png"
    assert "immutable" in response.headers["Cache-Control"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    etag = response.headers["ETag"]
    assert (
        client.get(uploads.media_path(upload), headers={"If-None-Match": etag}).status_code == 304
    )
    # The wrong extension, or a guessed id, is not found.
    assert client.get(uploads.media_path(upload).replace(".png", ".gif")).status_code == 404
    assert client.get("/media/0123456789abcdef01234567.png").status_code == 404


def test_a_text_file_named_png_is_refused_by_the_link_form(web: Web) -> None:
    web.post("/domains", {"hostname": "go.acme.test"}, page="/domains")
    response = web.post(
        "/links/new",
        {
            "destination": "https://example.org/",
            "domain_id": "1",
            "actions-0-type": "whisper",
            "preview_image": (__import__("io").BytesIO(b"hello, not an image"), "photo.png"),
        },
        page="/links/new",
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "not a PNG, JPEG, WebP or GIF" in response.get_data(as_text=True)
