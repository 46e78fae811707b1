"""The Postgres model: the source of truth for everything Redis holds.

Every row that belongs to an organisation carries ``org_id`` so that every query can be scoped
to the caller's organisation. Rows that sync publishes to Redis (domains, links, contacts)
carry a ``version`` drawn from one sequence (``record_versions``), so a newer write always has
a larger version than any older one, across deletes and re-creates.
"""

from admin.models.accounts import ApiToken, Invitation, Organisation, User
from admin.models.audit import AuditEvent
from admin.models.base import ROLES, record_versions
from admin.models.clicks import (
    Click,
    HistoryEntry,
    HistoryEvent,
    LinkBreakdown,
    LinkBroadcastClicks,
    LinkBroadcastContact,
    LinkContactClicks,
    LinkCounter,
    LinkSeries,
    LinkVisitor,
)
from admin.models.contacts import Contact, ContactList, ContactTag, ListMember, Tag
from admin.models.links import Domain, IssuedCode, Link, Upload
from admin.models.sending import (
    Broadcast,
    ImportJob,
    LibraryAction,
    Message,
    Webhook,
    WebhookDelivery,
)
from admin.models.sync import SyncOutbox

__all__ = [
    "ROLES",
    "ApiToken",
    "AuditEvent",
    "Broadcast",
    "Click",
    "Contact",
    "ContactList",
    "ContactTag",
    "Domain",
    "HistoryEntry",
    "HistoryEvent",
    "ImportJob",
    "Invitation",
    "IssuedCode",
    "LibraryAction",
    "Link",
    "LinkBreakdown",
    "LinkBroadcastClicks",
    "LinkBroadcastContact",
    "LinkContactClicks",
    "LinkCounter",
    "LinkSeries",
    "LinkVisitor",
    "ListMember",
    "Message",
    "Organisation",
    "SyncOutbox",
    "Tag",
    "Upload",
    "User",
    "Webhook",
    "WebhookDelivery",
    "record_versions",
]
