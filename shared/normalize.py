"""Identity normalization: the same person or company, whatever the spelling, gets the same key."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache

import phonenumbers

# Legal-entity forms that do not distinguish one company from another. Compared after NFKC and lower-casing,
# so full-width forms and ㈱ (NFKC → (株)) are covered.
_LEGAL_FORMS = (
    "株式会社",
    "(株)",
    "有限会社",
    "(有)",
    "合同会社",
    "(同)",
    "合資会社",
    "合名会社",
    "一般社団法人",
    "一般財団法人",
    "inc.",
    "inc",
    "incorporated",
    "co., ltd.",
    "co.,ltd.",
    "co. ltd.",
    "co.,ltd",
    "co., ltd",
    "co ltd",
    "company limited",
    "ltd.",
    "ltd",
    "limited",
    "llc",
    "l.l.c.",
    "corp.",
    "corp",
    "corporation",
    "co.",
    "gmbh",
    "ag",
    "s.a.",
    "sa",
    "plc",
    "k.k.",
    "kk",
    "pte. ltd.",
    "pty ltd",
)
# Longest first: "pte. ltd." must be stripped whole, not leave "pte." behind after "ltd." matched.
_LEGAL_FORMS_LONGEST_FIRST = sorted(_LEGAL_FORMS, key=len, reverse=True)
# What any form in a pass below could match, as tuples for one C-level check: a name matching none of them is
# left as it is by the pass, so the pass (about 150 string tests) is skipped.
_LEGAL_PREFIXES = tuple(f + " " for f in _LEGAL_FORMS) + tuple(f for f in _LEGAL_FORMS if not f.isascii())
_LEGAL_SUFFIXES = (
    tuple(" " + f for f in _LEGAL_FORMS)
    + tuple("," + f for f in _LEGAL_FORMS)
    + tuple(f for f in _LEGAL_FORMS if not f.isascii())
)
_SEPARATORS = re.compile(r"[\s,・･\.\-_/]+")

FREE_MAIL_DEFAULT = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.jp",
        "ymail.com",
        "hotmail.com",
        "outlook.com",
        "outlook.jp",
        "live.com",
        "icloud.com",
        "me.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "docomo.ne.jp",
        "ezweb.ne.jp",
        "softbank.ne.jp",
        "i.softbank.jp",
        "au.com",
    }
)


# Embedding, override and isolate controls can make "moc.evil" read as "live.com" in a rep's alert; joiners
# (U+200D, used by emoji sequences) are kept.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def clean_text(value: str | None) -> str | None:
    """NFKC, collapse internal whitespace, strip; empty becomes None."""
    if value is None:
        return None
    text = unicodedata.normalize("NFKC", value)
    if text.isprintable():
        # Fast path, same result: printable text has no Cc or Cf characters (so none of the controls removed
        # below), and its only whitespace is the ASCII space. NFKC is idempotent, so an unchanged text needs no
        # second pass. Most names, titles and companies take this path; the per-character scan was a large share
        # of ingest's CPU per event.
        collapsed = " ".join(text.split())
        if collapsed == text:
            return text or None
        return unicodedata.normalize("NFKC", collapsed) or None
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cc" and ch not in _BIDI_CONTROLS)
    # NFKC last as well: removing a control or a space can leave a letter next to its combining mark.
    text = unicodedata.normalize("NFKC", " ".join(text.split()))
    return text or None


def normalize_email(value: str) -> str:
    """NFKC (full-width ＠ and ．), trimmed, lower-cased."""
    if value.isascii():
        # NFKC leaves ASCII as it is, and lower-casing ASCII stays ASCII: the same result without two passes.
        return "".join(value.lower().split())
    # NFKC again at the end: lower-casing and removing inner spaces can leave a letter and its combining mark
    # side by side, and a key that changes on a second pass would split one person into two leads.
    text = "".join(unicodedata.normalize("NFKC", value).lower().split())
    return unicodedata.normalize("NFKC", text)


def email_domain(email: str) -> str:
    return email.rsplit("@", 1)[-1] if "@" in email else ""


def lead_id_for(email: str) -> str:
    """A stable, opaque id for a normalized email: personal data never leaves as the key."""
    digest = hashlib.sha256(normalize_email(email).encode()).hexdigest()
    return f"ld_{digest[:24]}"


def company_key(
    company: str | None, domain: str | None = None, free_mail: frozenset[str] = FREE_MAIL_DEFAULT
) -> str | None:
    """The account a lead belongs to: the corporate email domain first, else the company name without legal form."""
    if domain and domain not in free_mail:
        return f"domain:{domain}"
    name = clean_text(company)
    if not name:
        return None
    key = name.lower()
    changed = True
    while changed and (key.startswith(_LEGAL_PREFIXES) or key.endswith(_LEGAL_SUFFIXES)):
        changed = False
        for form in _LEGAL_FORMS_LONGEST_FIRST:
            if key.startswith(form + " ") or (key.startswith(form) and not form.isascii()):
                key = key[len(form) :].strip()
                changed = True
            if key.endswith(" " + form) or key.endswith("," + form) or (key.endswith(form) and not form.isascii()):
                key = key[: -len(form)].strip(" ,")
                changed = True
    key = unicodedata.normalize("NFKC", _SEPARATORS.sub("", key))
    return f"name:{key}" if key else None


# Parsing a number is about 20 µs of pure Python (phonenumbers); a person's number comes again with each of
# their events (registered, attended, the badge scan), so recent answers are kept. Bounded: a few hundred KB.
@lru_cache(maxsize=4096)
def normalize_phone(value: str | None, default_region: str = "JP") -> str | None:
    """E.164 when the number parses, else the cleaned text (kept, never dropped)."""
    text = clean_text(value)
    if not text:
        return None
    try:
        parsed = phonenumbers.parse(text, default_region)
        if not phonenumbers.is_possible_number(parsed):
            return text
        e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        # A degenerate number ("0000000000" in Japan) can format to an E.164 that reads back as another number:
        # such a form is not the number's, and normalizing twice must not change it, so the cleaned text stays.
        again = phonenumbers.format_number(phonenumbers.parse(e164), phonenumbers.PhoneNumberFormat.E164)
    except phonenumbers.NumberParseException:
        return text
    return e164 if again == e164 else text


_DECISION_MAKER = re.compile(
    r"\b(ceo|cto|cfo|coo|cio|cmo|chief|president|founder|owner|vp|vice president|director|head of|partner|"
    r"managing director|general manager|executive)\b"
    r"|代表|社長|取締役|役員|執行役|部長|本部長|事業部長|室長|会長|専務|常務|理事|所長|工場長"
)
_MANAGER = re.compile(
    r"\b(manager|mgr|lead|supervisor|team leader)\b|課長|係長|主任|マネージャ|リーダー|グループ長|チーム長"
)


def seniority_for(title: str | None) -> str:
    """decision_maker / manager / staff / unknown from an English or Japanese job title."""
    text = clean_text(title)
    if not text:
        return "unknown"
    lowered = text.lower()
    if _DECISION_MAKER.search(lowered):
        return "decision_maker"
    if _MANAGER.search(lowered):
        return "manager"
    return "staff"
