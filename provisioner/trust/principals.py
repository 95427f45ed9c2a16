"""Principals (the names the allowed-signers file gives keys), compared as people are.

`Alice@example.com` and `alice@example.com` are one person, and so are a name and the same name
with a zero-width space or a fullwidth letter in it: compared after NFKC and casefold, and a
principal with an invisible or control character is refused outright (it can only be there to
look like someone else)."""

from __future__ import annotations

import unicodedata

# Unicode categories that print as nothing or move the cursor: format (zero-width space,
# joiners, direction marks), control, line and paragraph separators, unassigned.
_INVISIBLE = {"Cf", "Cc", "Zl", "Zp", "Cn", "Co", "Cs"}


def invisible(principal: str) -> str | None:
    """The first invisible or control character of `principal`, as U+XXXX, or None."""
    for char in principal:
        if unicodedata.category(char) in _INVISIBLE:
            return f"U+{ord(char):04X}"
    return None


def normalised(principal: str) -> str:
    """The form two principals are compared in (invisible characters dropped, should one get
    this far, so they can never make two names differ)."""
    visible = "".join(c for c in principal if unicodedata.category(c) not in _INVISIBLE)
    return unicodedata.normalize("NFKC", visible).casefold().strip()


def same(one: str, other: str) -> bool:
    return normalised(one) == normalised(other)
