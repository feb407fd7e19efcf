"""Translations: every label and heading has English and Chinese text, and the catalogues are current."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from berth import i18n
from berth.i18n import LOCALE_DIR, REPORT_HEADINGS, SUPPORTED_LANGUAGES, label, translate
from berth.taxonomy import LABEL_VALUES

ROOT = Path(__file__).resolve().parents[2]


def _messages(path: Path) -> dict[str, str]:
    with path.open("rb") as handle:
        catalog = read_po(handle)
    return {str(m.id): str(m.string) for m in catalog if m.id and not m.fuzzy}


def _template_ids() -> set[str]:
    return set(_messages(LOCALE_DIR / "messages.pot"))


def test_every_message_has_non_empty_english_and_chinese_text() -> None:
    template = _template_ids()
    assert template, "empty template"
    for lang in SUPPORTED_LANGUAGES:
        messages = _messages(LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po")
        assert set(messages) == template, f"{lang}: run pybabel update (docs/taxonomy.md)"
        empty = sorted(msgid for msgid, text in messages.items() if not text.strip())
        assert not empty, f"{lang}: untranslated {empty}"


def test_chinese_text_is_chinese() -> None:
    zh = _messages(LOCALE_DIR / "zh" / "LC_MESSAGES" / "messages.po")
    en = _messages(LOCALE_DIR / "en" / "LC_MESSAGES" / "messages.po")
    not_chinese = [m for m, text in zh.items() if not any("\u4e00" <= ch <= "\u9fff" for ch in text)]
    assert not not_chinese
    assert all(zh[m] != en[m] for m in zh)


def test_template_is_what_pybabel_extract_finds() -> None:
    """Fails when a label value or an N_ / translate message is added without updating catalogues."""
    with (LOCALE_DIR / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    keywords = {"N_": None, "translate": None}
    found = {
        message
        for _, _, message, _, _ in extract_from_dir(
            str(ROOT / "src" / "berth"), method_map, options_map, keywords=keywords
        )
    }
    assert found == _template_ids()
    assert {f"{kind}.{value}" for kind, values in LABEL_VALUES.items() for value in values} <= found
    assert set(REPORT_HEADINGS) <= found


@pytest.mark.parametrize(
    ("kind", "value", "en", "zh"),
    [
        ("activity_state", "active", "Active", "活跃客户"),
        ("activity_state", "dozing", "Dozing", "瞌睡客户"),
        ("activity_state", "half_asleep", "Half-asleep", "半睡客户"),
        ("activity_state", "dormant", "Dormant", "沉睡客户"),
        ("loyalty_form", "true", "True loyalty", "忠诚"),
        ("loyalty_form", "latent", "Latent loyalty", "潜在的忠诚"),
        ("loyalty_form", "spurious", "Spurious loyalty", "虚假忠诚"),
        ("loyalty_form", "none", "No loyalty", "不忠诚"),
        ("relationship_level", "reactive", "Reactive", "被动式"),
        ("relationship_level", "partnership", "Partnership", "伙伴式"),
        ("tier", "gold", "Gold", "金级"),
    ],
)
def test_labels_in_english_and_chinese(kind: str, value: str, en: str, zh: str) -> None:
    assert label(kind, value, "en") == en
    assert label(kind, value, "zh") == zh


def test_every_label_value_has_text_in_both_languages() -> None:
    for kind, values in LABEL_VALUES.items():
        for value in values:
            for lang in SUPPORTED_LANGUAGES:
                assert label(kind, value, lang).strip()


def test_language_spellings_and_errors() -> None:
    assert translate("report.title", "zh-CN") == translate("report.title", "zh") == "客户保留报告"
    assert translate("report.title", "EN") == "Customer retention report"
    with pytest.raises(ValueError, match=r"supported are en, zh"):
        label("activity_state", "dozing", "fr")
    with pytest.raises(ValueError, match="supported are"):
        translate("report.title", "zh-TW")  # Traditional Chinese has no catalogue
    with pytest.raises(ValueError, match=r"no catalogue entry for 'activity_state\.sleepy'"):
        label("activity_state", "sleepy", "en")


def test_docs_say_how_to_update_the_catalogues() -> None:
    text = (ROOT / "docs" / "taxonomy.md").read_text(encoding="utf-8")
    for command in ("pybabel extract", "pybabel update", "pybabel init", "babel.cfg"):
        assert command in text
    assert "pybabel extract" in (i18n.__doc__ or "")
