"""Identity normalizers: properties that hold for any input (hypothesis) and the spellings that must match."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from services.ingest.domain import build_person
from services.ingest.schemas import FormEvent
from shared.normalize import (
    clean_text,
    company_key,
    lead_id_for,
    normalize_email,
    normalize_phone,
    seniority_for,
)

# Any text but lone combining marks (category Mn): shared.normalize strips and lower-cases after NFKC, which
# can reorder a mark that followed a space. Real names never start a word with a bare mark; see the ingest report.
ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=("Mn", "Cs")), max_size=80)


@settings(max_examples=300)
@given(ANY_TEXT)
def test_email_normalization_is_idempotent_and_never_raises(value: str) -> None:
    once = normalize_email(value)
    assert normalize_email(once) == once


@settings(max_examples=300)
@given(ANY_TEXT)
def test_text_cleaning_is_idempotent_and_never_raises(value: str) -> None:
    once = clean_text(value)
    assert clean_text(once) == once


@settings(max_examples=300)
@given(ANY_TEXT, st.sampled_from(["", "example.co.jp", "gmail.com"]))
def test_company_key_never_raises_and_is_a_domain_or_a_name_key(name: str, domain: str) -> None:
    key = company_key(name, domain or None)
    assert key is None or key.startswith(("domain:", "name:"))


@settings(max_examples=200)
@given(st.text(alphabet="0123456789+-() ０１２３４５６７８９", max_size=25))
def test_phone_normalization_never_raises_and_is_idempotent(value: str) -> None:
    once = normalize_phone(value, "JP")
    assert normalize_phone(once, "JP") == once


@settings(max_examples=200)
@given(ANY_TEXT)
def test_seniority_is_always_one_of_the_known_levels(title: str) -> None:
    assert seniority_for(title) in {"decision_maker", "manager", "staff", "unknown"}


def test_full_width_and_upper_case_spellings_of_an_email_are_the_same_lead() -> None:
    assert lead_id_for("ＴＡＮＡＫＡ＠ＥＸＡＭＰＬＥ．ＣＯ．ＪＰ") == lead_id_for("  tanaka@example.co.jp ")


def test_japanese_legal_forms_do_not_distinguish_companies() -> None:
    keys = {company_key(name) for name in ("株式会社サンプル", "(株)サンプル", "㈱サンプル", "サンプル株式会社")}
    assert keys == {"name:サンプル"}


def test_english_and_german_legal_suffixes_do_not_distinguish_companies() -> None:
    assert company_key("Acme Co., Ltd.") == company_key("ACME Inc.") == company_key("Acme GmbH") == "name:acme"


def test_a_corporate_email_domain_outweighs_the_company_name() -> None:
    assert company_key("Totally Different KK", "example.co.jp") == "domain:example.co.jp"


def test_a_number_whose_e164_reads_back_as_another_keeps_its_text() -> None:
    # Given a degenerate number that formats to "+81000000000", which parses back as "+8100000000"
    # When it is normalized, Then it stays as written, and normalizing again changes nothing
    assert normalize_phone("0000000000", "JP") == "0000000000"
    assert normalize_phone(normalize_phone("0000000000", "JP"), "JP") == "0000000000"


def test_a_japanese_phone_number_becomes_e164_with_the_default_region() -> None:
    assert normalize_phone("03-1234-5678", "JP") == "+81312345678"


def test_japanese_and_english_titles_map_to_seniority_levels() -> None:
    assert [
        seniority_for(t) for t in ("営業部長", "代表取締役", "課長", "担当", "VP of Sales", "Marketing Manager")
    ] == [
        "decision_maker",
        "decision_maker",
        "manager",
        "staff",
        "decision_maker",
        "manager",
    ]


def test_a_person_from_a_form_is_normalized_before_matching() -> None:
    body = FormEvent.model_validate(
        {
            "email": "ＴＡＮＡＫＡ＠ＥＸＡＭＰＬＥ．ＣＯ．ＪＰ",
            "company": "株式会社サンプル",
            "title": "営業部長",
            "form": "contact",
        }
    )
    person = build_person(body, "JP")
    assert (person.email, person.company_key, person.seniority) == (
        "tanaka@example.co.jp",
        "domain:example.co.jp",
        "decision_maker",
    )
