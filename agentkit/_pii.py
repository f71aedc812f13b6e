"""Finding personal data in text: emails, phone numbers, card numbers, IBANs.

Pure functions over ``str``, no dependency: the ``PIIRedactor`` guardrail
(``agentkit.guardrails``) is built on them. What is found, and what is not:

- **email**: ``local@domain.tld`` (the usual characters; no quoted local parts, no IP
  literals, no internationalized addresses).
- **card**: 13 to 19 digits, optionally grouped by single spaces or hyphens, that pass the
  Luhn check. About one random digit string in ten passes Luhn, so a long order number
  may be taken for a card; a mistyped card number is not found.
- **iban**: two letters, two check digits and the account part, optionally grouped by
  spaces, of the length registered for that country (``IBAN_LENGTHS``), passing the
  ISO 13616 mod-97 check. Countries missing from the table are not found.
- **phone**: international numbers written with ``+`` (8 to 15 digits, E.164), and
  national numbers written with separators: ``(415) 555-2671``, ``415-555-2671``,
  ``415.555.2671``, or a leading ``0`` with groups (``06 12 34 56 78``,
  ``020 7946 0958``), 9 to 11 digits. Unformatted national numbers (``4155552671``),
  short local numbers (``555-2671``) and numbers spelled out in words are not found:
  they cannot be told from other numbers reliably.

Cards and IBANs are found first; a phone number is never looked for inside them.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = ["IBAN_LENGTHS", "PII_KINDS", "PIIKind", "PIIMatch", "find_pii", "luhn_valid", "redact"]

PIIKind = Literal["email", "phone", "card", "iban"]
PII_KINDS: tuple[PIIKind, ...] = ("card", "iban", "email", "phone")
"""Every kind, in the order they are looked for."""

IBAN_LENGTHS: Mapping[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24,
    "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SC": 31,
    "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip
"""IBAN length per country code (the SWIFT IBAN registry)."""

_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,}(?![\w-])"
)
_CARD = re.compile(r"(?<![\w+.,-])\d(?:[ -]?\d){12,18}(?![\w-]|[.,]\d)")
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]){11,30}")
_PHONE_INTL = re.compile(r"(?<![\w+])\+\d[\d .()-]{6,22}\d(?![\w])")
_PHONE_NATIONAL = re.compile(
    r"(?<![\w+.-])(?:"
    r"\(\d{3}\) ?\d{3}[ .-]\d{4}"  # (415) 555-2671
    r"|\d{3}([ .-])\d{3}\1\d{4}"  # 415-555-2671, 415.555.2671
    r"|0\d{1,4}(?:([ .-])\d{2,4}){2,4}"  # 06 12 34 56 78, 020 7946 0958
    r")(?![\w]|[.-]\d)"
)


@dataclass(frozen=True, slots=True)
class PIIMatch:
    """One piece of personal data in a text: its kind, where it is, and the text."""

    kind: PIIKind
    start: int
    end: int
    text: str


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn check (card numbers)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _iban_valid(compact: str) -> bool:
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(char, 36)) for char in rearranged)
    return int(number) % 97 == 1


def _ibans(text: str) -> list[PIIMatch]:
    found: list[PIIMatch] = []
    for match in _IBAN.finditer(text):
        country = match.group()[:2].upper()
        length = IBAN_LENGTHS.get(country)
        if length is None:
            continue
        # take exactly the country's length of characters (a following word may have joined)
        count, end = 0, match.start()
        for end in range(match.start(), match.end()):
            if text[end] != " ":
                count += 1
                if count == length:
                    break
        if count != length:
            continue
        end += 1
        if end < len(text) and text[end].isalnum():
            continue  # longer than the country's IBANs: not one
        compact = text[match.start() : end].replace(" ", "").upper()
        if _iban_valid(compact):
            found.append(PIIMatch("iban", match.start(), end, text[match.start() : end]))
    return found


_IBAN_HEAD = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2} ?$")


def _cards(text: str) -> list[PIIMatch]:
    found = []
    for match in _CARD.finditer(text):
        if _IBAN_HEAD.search(text, max(0, match.start() - 5), match.start()):
            continue  # the digits of an IBAN-shaped string (that failed its own check)
        digits = re.sub(r"[ -]", "", match.group())
        if luhn_valid(digits):
            found.append(PIIMatch("card", match.start(), match.end(), match.group()))
    return found


def _emails(text: str) -> list[PIIMatch]:
    return [PIIMatch("email", m.start(), m.end(), m.group()) for m in _EMAIL.finditer(text)]


def _phones(text: str) -> list[PIIMatch]:
    found = []
    for match in _PHONE_INTL.finditer(text):
        digits = sum(char.isdigit() for char in match.group())
        if 8 <= digits <= 15 and "  " not in match.group():
            found.append(PIIMatch("phone", match.start(), match.end(), match.group()))
    for match in _PHONE_NATIONAL.finditer(text):
        digits = sum(char.isdigit() for char in match.group())
        if 9 <= digits <= 11:
            found.append(PIIMatch("phone", match.start(), match.end(), match.group()))
    return found


_FINDERS = {"card": _cards, "iban": _ibans, "email": _emails, "phone": _phones}


def find_pii(text: str, kinds: Collection[PIIKind] = PII_KINDS) -> list[PIIMatch]:
    """The personal data of ``kinds`` in ``text``, in order of position, never overlapping
    (cards and IBANs win over phone numbers). See the module docs for what is found."""
    for kind in kinds:
        if kind not in _FINDERS:
            raise ValueError(f"unknown kind of personal data {kind!r}: use {', '.join(PII_KINDS)}")
    taken: list[PIIMatch] = []
    for kind in PII_KINDS:
        if kind not in kinds:
            continue
        for found in _FINDERS[kind](text):
            if not any(found.start < t.end and t.start < found.end for t in taken):
                taken.append(found)
    return sorted(taken, key=lambda m: m.start)


def redact(
    text: str, kinds: Collection[PIIKind] = PII_KINDS, *, placeholder: str = "[{kind}]"
) -> tuple[str, list[PIIMatch]]:
    """``text`` with each piece of personal data replaced by ``placeholder`` (formatted with
    ``kind`` in capitals: ``[EMAIL]``), and what was found."""
    found = find_pii(text, kinds)
    if not found:
        return text, found
    parts: list[str] = []
    position = 0
    for match in found:
        parts.append(text[position : match.start])
        parts.append(placeholder.format(kind=match.kind.upper()))
        position = match.end
    parts.append(text[position:])
    return "".join(parts), found
