"""Short codes: random base62, unguessable, at most 8 characters after the domain."""

from __future__ import annotations

import secrets

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
ALPHABET_SET = frozenset(ALPHABET)
CODE_LENGTH = 7  # 62**7 = 3.5e12 codes: a guess hits one of 10 million issued once in 350,000
MAX_CODE_LENGTH = 8
# Paths of the edge's own routes that are also well-formed codes: never issued.
RESERVED = frozenset({"healthz", "metrics", "favicon", "robots"})


def issuable(code: str) -> bool:
    """A well-formed code that does not shadow one of the edge's own paths."""
    return is_code(code) and code not in RESERVED


def new_code(length: int = CODE_LENGTH) -> str:
    while True:
        code = "".join(secrets.choice(ALPHABET) for _ in range(length))
        if issuable(code):
            return code


def is_code(text: str) -> bool:
    """True when ``text`` could be a code; the edge answers 404 for anything else without Redis."""
    return 0 < len(text) <= MAX_CODE_LENGTH and all(c in ALPHABET_SET for c in text)
