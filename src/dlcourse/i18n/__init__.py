"""Messages in English, Japanese, Chinese and Korean, the standard gettext way.

English is the message id itself; `locale/<lang>/LC_MESSAGES/dlcourse.po` holds the translations and
the compiled `.mo` next to it is what runs. `python -m dlcourse.i18n.catalog` re-extracts the
messages, merges them into the `.po` files and recompiles (see that module).

    from dlcourse.i18n import _, set_language
    set_language("ja")            # or None: from LANGUAGE / LC_ALL / LC_MESSAGES / LANG
    print(_("Spiral classification: linear vs ReLU network"))

Only the stdlib is imported here: the CLI imports this before anything heavy.
"""

from __future__ import annotations

import functools
import gettext
import os
from pathlib import Path

LANGUAGES = ("en", "ja", "zh", "ko")
DOMAIN = "dlcourse"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
# The variables GNU gettext consults, in its order of precedence.
ENV_VARS = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")

_current: str | None = None  # resolved lazily from the environment on first use


def _code(value: str) -> str:
    """The bare language code of a locale name: "ja_JP.UTF-8" -> "ja", "zh-Hans" -> "zh"."""
    base = value.strip().split(".")[0].split("@")[0]
    return base.replace("-", "_").split("_")[0].lower()


def resolve_language(value: str) -> str:
    """Validate a user-given language ("ja", "ja_JP.UTF-8", "ko-KR", "EN") and return its code."""
    code = _code(value or "")
    if code not in LANGUAGES:
        raise ValueError(f"unknown language {value!r}; use one of {', '.join(LANGUAGES)}")
    return code


def language_from_env(environ=None) -> str:
    """The language the locale variables ask for, English if none we have.

    As GNU gettext does, the first variable that is set decides; LANGUAGE may be a priority list
    ("fr:ja") and the first supported entry wins. "C", "POSIX" and unsupported locales give English.
    """
    environ = os.environ if environ is None else environ
    for var in ENV_VARS:
        value = environ.get(var, "")
        if value:
            for entry in value.split(":"):
                if _code(entry) in LANGUAGES:
                    return _code(entry)
            return "en"
    return "en"


def set_language(lang: str | None) -> str:
    """Set the language of `_` and `ngettext` (None: from the environment); returns the code."""
    global _current
    _current = language_from_env() if lang is None else resolve_language(lang)
    return _current


def get_language() -> str:
    if _current is None:
        return set_language(None)
    return _current


@functools.lru_cache(maxsize=None)
def translation(lang: str) -> gettext.NullTranslations:
    """The compiled catalogue of `lang`; English (and a missing .mo) fall back to the msgid."""
    lang = resolve_language(lang)
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[lang], fallback=True)


def _(message: str) -> str:
    return translation(get_language()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translation(get_language()).ngettext(singular, plural, n)


__all__ = [
    "LANGUAGES", "LOCALE_DIR", "_", "get_language", "language_from_env", "ngettext",
    "resolve_language", "set_language", "translation",
]
