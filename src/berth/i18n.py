"""English and Simplified Chinese text for labels and report headings, from gettext catalogues.

The catalogues are Babel-managed ``.po`` files under ``berth/locale/<lang>/LC_MESSAGES/`` (with
``messages.pot`` as the template), read directly with :func:`babel.messages.pofile.read_po` the
first time a language is asked for (no compile step, nothing read at import). Message ids are
stable keys (``"activity_state.dozing"``, ``"report.title"``): English text lives in the ``en``
catalogue like any other language, so rewording it never orphans a translation.

Updating the catalogues (docs/taxonomy.md has the whole recipe)::

    uv run pybabel extract -F src/berth/locale/babel.cfg --no-default-keywords -k N_ -k translate \\
        --no-location --sort-output --project berth -o src/berth/locale/messages.pot src/berth
    uv run pybabel update -i src/berth/locale/messages.pot -d src/berth/locale \\
        --no-fuzzy-matching --ignore-pot-creation-date
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from babel.messages.pofile import read_po

__all__ = [
    "LOCALE_DIR",
    "N_",
    "REPORT_HEADINGS",
    "SUPPORTED_LANGUAGES",
    "catalogue",
    "extract_labels",
    "label",
    "negotiate_language",
    "normalise_language",
    "translate",
]

SUPPORTED_LANGUAGES: tuple[str, ...] = ("en", "zh")  # zh: Simplified Chinese (CLDR's zh is zh_Hans)
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
# Other spellings of the supported languages (lower case, "-" read as "_").
_ALIASES: Mapping[str, str] = {
    **dict.fromkeys(("en_us", "en_gb", "english"), "en"),
    **dict.fromkeys(("zh_hans", "zh_cn", "zh_sg", "zh_hans_cn", "chinese"), "zh"),
}


def N_(message: str) -> str:  # noqa: N802 (the gettext convention pybabel extracts with -k N_)
    """Mark a message id for extraction without translating it; returns it unchanged."""
    return message


# ---------------------------------------------------------------------------------------------
# Retention (portfolio) report headings. The report adds its own here, or marks them with N_ /
# translate("report....", lang) where it uses them; either way `pybabel extract` finds them.
REPORT_HEADINGS: tuple[str, ...] = (
    N_("report.title"),
    N_("report.summary"),
    N_("report.cutoff_date"),
    N_("report.customers"),
    N_("report.customers_at_risk"),
    N_("report.revenue_at_risk"),
    N_("report.churn_rate"),
    N_("report.retention_rate"),
    N_("report.by_activity_state"),
    N_("report.by_loyalty_form"),
    N_("report.by_abc_class"),
    N_("report.by_relationship_level"),
    N_("report.by_upgrade_stage"),
    N_("report.by_tier"),
    N_("report.by_segment"),
    N_("report.concentration"),
    N_("report.nps"),
    N_("report.satisfaction_rate"),
    N_("report.complaints"),
    N_("report.drivers"),
    N_("report.recommended_actions"),
    N_("report.top_accounts"),
)
# ---------------------------------------------------------------------------------------------


def normalise_language(lang: str) -> str:
    """The supported language ``lang`` names ("zh-CN" → "zh"); ValueError for any other."""
    key = lang.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in SUPPORTED_LANGUAGES:
        raise ValueError(
            f"unsupported language {lang!r}: supported are {', '.join(SUPPORTED_LANGUAGES)} "
            "(zh is Simplified Chinese)"
        )
    return key


def negotiate_language(accept_language: str | None, default: str = "en") -> str:
    """The supported language an ``Accept-Language`` header prefers (RFC 9110 quality values:
    ``"zh-CN,zh;q=0.9,en;q=0.8"`` → zh); ``default`` when it names none of them."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate((accept_language or "").split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and quality > 0:
            ranked.append((-quality, position, tag.strip()))
    for _, _, tag in sorted(ranked):
        for candidate in (tag, tag.split("-")[0]):
            try:
                return normalise_language(candidate)
            except ValueError:
                continue
    return default


@lru_cache(maxsize=len(SUPPORTED_LANGUAGES))
def _read(lang: str) -> Mapping[str, str]:
    path = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=None, domain=DOMAIN)
    return {
        str(message.id): str(message.string)
        for message in catalog
        if message.id and isinstance(message.string, str) and message.string and not message.fuzzy
    }


def catalogue(lang: str) -> Mapping[str, str]:
    """Every translated message of a language (msgid → text); read once, then cached."""
    return _read(normalise_language(lang))


def translate(msgid: str, lang: str) -> str:
    """The text of ``msgid`` in ``lang``; English when that language lacks it; ValueError if none has it."""
    code = normalise_language(lang)
    text = _read(code).get(msgid) or _read("en").get(msgid)
    if text is None:
        raise ValueError(
            f"no catalogue entry for {msgid!r}: add it where it is used (marked with N_ or translate) "
            "and update the catalogues (docs/taxonomy.md, 'Translations')"
        )
    return text


def label(kind: str, value: str, lang: str) -> str:
    """The display text of a label, e.g. ``label("activity_state", "dozing", "zh")`` → 瞌睡客户."""
    return translate(f"{kind}.{value}", lang)


def extract_labels(
    fileobj: IO[bytes], keywords: Collection[str], comment_tags: Collection[str], options: Mapping[str, Any]
) -> Iterator[tuple[int, str | None, str, list[str]]]:
    """Babel extraction method: the msgid of every taxonomy label (berth.taxonomy.LABEL_VALUES).

    Named in ``locale/babel.cfg`` for taxonomy.py, so the label values are written once (as the
    tuples the rules return) and still reach the catalogue template through ``pybabel extract``.
    """
    from berth.taxonomy import LABEL_VALUES  # at extraction time only (i18n stays below taxonomy)

    for kind, values in LABEL_VALUES.items():
        for value in values:
            yield 1, None, f"{kind}.{value}", [f"label: {kind} = {value}"]
