"""What one organisation's imports may take: the size of a file, its width (a contact has at
most ``contacts.MAX_FIELDS`` fields) and how many imports run at once.

Each running import holds two database connections (its advisory lock and its work), so 32
imports at once used to take the whole pool and answer 500 to everyone (issue 15). The count
of imports under way is read from Postgres itself: a job counts while some process holds its
advisory lock, so a job whose process died stops counting by itself, in every admin process.
"""

from __future__ import annotations

from sqlalchemy import text

from admin.extensions import db
from admin.services.contacts import MAX_FIELDS
from admin.services.errors import ServiceError, ValidationError

# First key of the transaction lock that lines up one organisation's import starts.
ORG_LOCK_SPACE = 0x5EEE
RETRY_AFTER_SECONDS = 10

_UNDER_WAY = text(
    """
    SELECT count(*) FROM import_jobs j
    WHERE j.org_id = :org_id AND j.status IN ('queued', 'running')
      AND EXISTS (
        SELECT 1 FROM pg_locks l
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.classid::bigint = :space AND l.objid::bigint = j.id
      )
    """
)


class TooLarge(ServiceError):
    status = 413
    code = "too_large"


class Busy(ServiceError):
    """The organisation has as many imports running as it may; try again later."""

    status = 429
    code = "too_many_requests"
    retry_after = RETRY_AFTER_SECONDS


def check_size(data: bytes, max_bytes: int) -> None:
    if max_bytes and len(data) > max_bytes:
        raise TooLarge("file", f"the file is larger than {max_bytes // (1024 * 1024)} MB; split it")


def check_width(custom_columns: int) -> None:
    """Every column that is not a built-in one becomes a field of every contact in the file."""
    if custom_columns > MAX_FIELDS:
        raise ValidationError(
            "file",
            f"the file has {custom_columns} columns of custom fields; a contact has at most "
            f"{MAX_FIELDS} fields: remove some columns",
        )


def make_room(org_id: int, lock_space: int, most: int) -> None:
    """Raise Busy when ``most`` of the organisation's imports are under way. The check holds
    a transaction lock of the organisation in ``db.session`` until that commits, so that two
    uploads at once cannot both see the last free place: commit once the new job holds its
    own lock."""
    if not most:
        return
    db.session.execute(
        text("SELECT pg_advisory_xact_lock(:a, :b)"), {"a": ORG_LOCK_SPACE, "b": org_id}
    )
    under_way = db.session.scalar(_UNDER_WAY, {"org_id": org_id, "space": lock_space}) or 0
    if under_way >= most:
        raise Busy(
            "file",
            f"{under_way} imports of this organisation are under way (at most {most} at once); "
            "try again when one has finished",
        )
