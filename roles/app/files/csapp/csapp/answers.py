"""Canned answers for the queries customers ask most; anything else goes to a human."""

from __future__ import annotations

import re

CANNED: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"\b(reset|forgot|change)\b.*\bpassword\b", re.I),
        "Use 'Forgot password' on the sign-in page; the reset link is valid for one hour.",
    ),
    (
        re.compile(r"\b(opening|business|office)\s+hours\b", re.I),
        "We answer Monday to Friday, 08:00 to 18:00 UTC.",
    ),
    (
        re.compile(r"\brefund\b", re.I),
        "Refunds are paid to the original payment method within 5 working days.",
    ),
    (
        re.compile(r"\b(track|where is)\b.*\border\b", re.I),
        "Your order's tracking link is in the shipping confirmation e-mail.",
    ),
]

HANDOFF = "This question needs a person: a support agent will contact you."


def answer(query: str) -> dict[str, object]:
    for pattern, text in CANNED:
        if pattern.search(query):
            return {"answer": text, "handoff": False}
    return {"answer": HANDOFF, "handoff": True}
