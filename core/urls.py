"""Short URLs: what a contact gets in a message and the edge answers, built in one place."""

from __future__ import annotations


def short_url(scheme: str, host: str, code: str, extension: str = "") -> str:
    """``{scheme}://{host}/{code}[/{extension}]``: the extension is shown after the code and
    the edge resolves the code with or without it (the contract)."""
    return f"{scheme}://{host}/{code}" + (f"/{extension}" if extension else "")
