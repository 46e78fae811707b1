"""Tag and list names: the one normalisation every writer applies before a name reaches the
``tags`` or ``contact_lists`` tables (the admin's services, drain's click actions), so that a
name typed on a contact's page, given to the API and named in a link's click action all find
the same row. Names are case-sensitive (``VIP`` and ``vip`` are two tags), as the unique
constraints (org_id, name) are.
"""

from __future__ import annotations

NAME_MAX = 100  # tags.name and contact_lists.name are String(100)


def normalize_name(name: str) -> str:
    """The stored form of a tag or list name: without surrounding whitespace.

    An empty result means "no name". Callers decide what too long means: drain truncates to
    ``NAME_MAX`` (a click never fails), the admin refuses with a message naming the field.
    """
    return name.strip()
