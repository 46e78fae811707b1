"""Preview images: checked by their content (never their name), measured, stored in Postgres,
and served at a public absolute URL so that link-preview fetchers can load them (og:image).

Dimensions come from the file headers (PNG IHDR, GIF screen descriptor, WebP VP8/VP8L/VP8X,
JPEG start-of-frame), so no image library is needed and nothing is decoded.
"""

from __future__ import annotations

import hashlib
import secrets
import struct
from dataclasses import dataclass

from sqlalchemy import select

from admin.extensions import db
from admin.models import Upload
from admin.services.errors import ValidationError
from admin.services.lookup import owned

MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_SIDE = 30_000  # beyond this a header is lying or the image is useless as a card
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}
CONTENT_TYPES = {ext: ctype for ctype, ext in EXTENSIONS.items()}


@dataclass(frozen=True)
class ImageInfo:
    content_type: str
    width: int
    height: int

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.content_type]


def _png(data: bytes) -> ImageInfo | None:
    if not data.startswith(b"\x89PNG\r\n\x1a\n") or data[12:16] != b"IHDR" or len(data) < 24:
        return None
    width, height = struct.unpack(">II", data[16:24])
    return ImageInfo("image/png", width, height)


def _gif(data: bytes) -> ImageInfo | None:
    if data[:6] not in (b"GIF87a", b"GIF89a") or len(data) < 10:
        return None
    width, height = struct.unpack("<HH", data[6:10])
    return ImageInfo("image/gif", width, height)


def _webp(data: bytes) -> ImageInfo | None:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP" or len(data) < 25:
        return None
    chunk = data[12:16]
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a" and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return ImageInfo("image/webp", width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L" and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return ImageInfo("image/webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return ImageInfo("image/webp", width, height)
    return None


# Start-of-frame markers carry the dimensions; C4 (DHT), C8 (JPG) and CC (DAC) do not.
_SOF_MARKERS = {m for m in range(0xC0, 0xD0)} - {0xC4, 0xC8, 0xCC}


def _jpeg(data: bytes) -> ImageInfo | None:
    if not data.startswith(b"\xff\xd8\xff"):
        return None
    pos = 2
    end = len(data)
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, or scan data before any frame
            return None
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2:
            return None
        if marker in _SOF_MARKERS:
            if pos + 9 > end:
                return None
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return ImageInfo("image/jpeg", width, height)
        pos += 2 + length
    return None


def inspect_image(data: bytes) -> ImageInfo:
    """What the bytes are (PNG, JPEG, WebP or GIF) and their size; raises ValidationError."""
    if not data:
        raise ValidationError("image", "the image file is empty")
    if len(data) > MAX_IMAGE_BYTES:
        raise ValidationError("image", "the image is larger than 10 MB")
    for reader in (_png, _jpeg, _webp, _gif):
        info = reader(data)
        if info is not None:
            break
    else:
        raise ValidationError("image", "the file is not a PNG, JPEG, WebP or GIF image")
    if not (0 < info.width <= MAX_SIDE and 0 < info.height <= MAX_SIDE):
        raise ValidationError("image", "the image's dimensions cannot be read")
    return info


def store_image(org_id: int, data: bytes) -> Upload:
    """Store an image (the same bytes twice give the same upload); the caller commits."""
    info = inspect_image(data)
    digest = hashlib.sha256(data).hexdigest()
    existing = db.session.scalar(
        select(Upload).where(Upload.org_id == org_id, Upload.sha256 == digest)
    )
    if existing is not None:
        return existing
    upload = Upload(
        org_id=org_id,
        public_id=secrets.token_hex(12),
        content_type=info.content_type,
        width=info.width,
        height=info.height,
        sha256=digest,
        data=data,
    )
    db.session.add(upload)
    db.session.flush()
    return upload


def media_path(upload: Upload) -> str:
    return f"/media/{upload.public_id}.{EXTENSIONS[upload.content_type]}"


def public_url(upload: Upload, public_admin_url: str) -> str:
    """The absolute URL fetchers load the image from (PUBLIC_ADMIN_URL + /media/...)."""
    return public_admin_url.rstrip("/") + media_path(upload)


def get_upload(org_id: int, upload_id: int) -> Upload:
    return owned(Upload, org_id, upload_id, "upload", "no such upload")


def find_public(public_id: str, extension: str) -> Upload | None:
    """The upload behind a public media URL (no organisation: the id is unguessable)."""
    ctype = CONTENT_TYPES.get(extension.lower())
    if ctype is None or len(public_id) > 32 or not public_id.isalnum():
        return None
    return db.session.scalar(
        select(Upload).where(Upload.public_id == public_id, Upload.content_type == ctype)
    )
