"""Identity normalization: the same person or company whatever the spelling."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.normalize import (
    clean_text,
    company_key,
    lead_id_for,
    normalize_email,
    normalize_phone,
    seniority_for,
)


def test_full_width_email_normalizes_to_ascii_lower_case() -> None:
    assert normalize_email("ＴＡＮＡＫＡ＠ＥＸＡＭＰＬＥ．ＣＯ．ＪＰ") == "tanaka@example.co.jp"


def test_lead_id_is_the_same_for_every_spelling_of_one_email() -> None:
    assert lead_id_for(" Tanaka@Example.co.jp ") == lead_id_for("ＴＡＮＡＫＡ＠ＥＸＡＭＰＬＥ．ＣＯ．ＪＰ")


def test_lead_id_does_not_reveal_the_email() -> None:
    assert "tanaka" not in lead_id_for("tanaka@example.co.jp")


@pytest.mark.parametrize(
    "spelling",
    ["株式会社サンプル", "(株)サンプル", "サンプル株式会社", "㈱サンプル", "（株）サンプル", "サンプル 株式会社"],
)
def test_japanese_legal_forms_do_not_distinguish_companies(spelling: str) -> None:
    assert company_key(spelling) == "name:サンプル"


@pytest.mark.parametrize(
    "spelling", ["Acme Inc.", "ACME, Inc", "Acme Co., Ltd.", "Acme Corporation", "Acme GmbH", "acme"]
)
def test_english_and_german_legal_forms_do_not_distinguish_companies(spelling: str) -> None:
    assert company_key(spelling) == "name:acme"


def test_a_multi_word_legal_form_is_stripped_whole() -> None:
    assert company_key("Globex Financial Pte. Ltd.") == "name:globexfinancial"


def test_a_corporate_email_domain_outranks_the_company_name() -> None:
    assert company_key("Acme Robotics", "acme.example.com") == "domain:acme.example.com"


def test_a_free_mail_domain_says_nothing_about_the_company() -> None:
    assert company_key("Acme Robotics", "gmail.com") == "name:acmerobotics"


def test_japanese_phone_numbers_become_e164() -> None:
    assert normalize_phone("03-1234-5678", "JP") == "+81312345678"


def test_an_unparseable_phone_is_kept_as_cleaned_text_not_dropped() -> None:
    assert normalize_phone("ext. 12", "JP") == "ext. 12"


@pytest.mark.parametrize(
    ("title", "level"),
    [
        ("代表取締役社長", "decision_maker"),
        ("営業部長", "decision_maker"),
        ("VP of Sales", "decision_maker"),
        ("Director, IT", "decision_maker"),
        ("課長", "manager"),
        ("Marketing Manager", "manager"),
        ("Engineer", "staff"),
        (None, "unknown"),
        ("", "unknown"),
    ],
)
def test_job_titles_map_to_a_seniority_level(title: str | None, level: str) -> None:
    assert seniority_for(title) == level


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_normalizing_text_is_idempotent_and_never_raises(text: str) -> None:
    once = clean_text(text)
    assert clean_text(once) == once


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_normalizing_an_email_is_idempotent_and_never_raises(text: str) -> None:
    once = normalize_email(text)
    assert normalize_email(once) == once


@settings(max_examples=200, deadline=None)
@given(st.text(), st.one_of(st.none(), st.text()))
def test_company_keys_are_stable_under_renormalization_and_never_raise(name: str, domain: str | None) -> None:
    key = company_key(name, domain)
    assert key is None or key.startswith(("name:", "domain:"))


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_phone_and_title_normalizers_never_raise(text: str) -> None:
    normalize_phone(text)
    assert seniority_for(text) in {"decision_maker", "manager", "staff", "unknown"}


def test_bidi_override_characters_are_removed_from_names() -> None:
    assert clean_text("\u202eEve Smith") == "Eve Smith"


def test_emoji_joiners_are_kept() -> None:
    assert clean_text("👩\u200d💻 Ann") == "👩\u200d💻 Ann"


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_company_keys_do_not_change_on_a_second_pass(name: str) -> None:
    key = company_key(name)
    if key is not None:
        assert company_key(key.removeprefix("name:")) in (key, None)
