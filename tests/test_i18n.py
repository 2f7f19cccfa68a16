"""Translations are complete, compiled, and chosen the way the user asked."""

import gettext
import string

import pytest

from dlcourse import i18n, registry
from dlcourse.i18n import _, ngettext, resolve_language, set_language

LESSONS = {lesson.name: lesson for lesson in registry.lessons()}

babel = pytest.importorskip("babel")  # a test dependency; catalog.py needs it
from babel.messages.pofile import read_po  # noqa: E402

from dlcourse.i18n import catalog  # noqa: E402

TRANSLATED = ("ja", "zh", "ko")
ENV_VARS = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


@pytest.fixture(autouse=True)
def english_after():
    yield
    set_language("en")


def _po(lang):
    with catalog.po_path(lang).open("rb") as f:
        return read_po(f, locale=lang)


def _fields(text):
    return sorted(name for _, name, _, _ in string.Formatter().parse(text) if name is not None)


def test_every_message_is_translated():
    """Fails when someone adds `_()` text: run `python -m dlcourse.i18n.catalog` and translate it."""
    assert catalog.missing_translations() == {lang: [] for lang in TRANSLATED}


def test_catalogue_files_are_up_to_date():
    """The .pot, .po and .mo files are what the pipeline produces from the current sources."""
    assert [str(p) for p in catalog.stale_files()] == []


def test_extraction_finds_calls_inside_fstrings(tmp_path):
    src = tmp_path / "m.py"
    src.write_text('x = _("plain")\ny = f"{_(\'nested\')}: {z}"\n'
                   'w = ngettext("one run", "{n} runs", 2)\nv = _(name)\n', encoding="utf-8")
    found = dict(catalog._ast_messages(src))
    assert found == {"plain": 1, "nested": 2, ("one run", "{n} runs"): 3}


def test_lesson_titles_are_in_the_template():
    ids = {m.id for m in catalog.build_template() if m.id}
    assert {rec.title for rec in LESSONS.values()} <= ids


@pytest.mark.parametrize("lang", TRANSLATED)
def test_mo_agrees_with_po(lang):
    po = _po(lang)
    with catalog.mo_path(lang).open("rb") as f:
        mo = gettext.GNUTranslations(f)
    expected = {}
    for m in po:
        if m.id and m.string and not m.fuzzy:
            if isinstance(m.id, tuple):  # plural: compare every form
                for i, form in enumerate(m.string):
                    expected[(m.id[0], i)] = form
            else:
                expected[m.id] = m.string
    compiled = {k: v for k, v in mo._catalog.items() if k != ""}  # "" is the header
    assert compiled == expected


@pytest.mark.parametrize("lang", TRANSLATED)
def test_translations_keep_format_fields(lang):
    for m in _po(lang):
        if m.id and m.string:
            ids = m.id if isinstance(m.id, tuple) else (m.id,)
            strings = m.string if isinstance(m.string, tuple) else (m.string,)
            for s in strings:
                assert _fields(s) == _fields(ids[0]), (lang, m.id)


def test_set_language_translates_titles():
    title = LESSONS["spiral"].title
    assert set_language("ja") == "ja" and i18n.get_language() == "ja"
    assert _(title) == "渦巻きデータの分類: 線形ネットワーク対ReLUネットワーク"
    set_language("zh")
    assert _(LESSONS["autograd"].title) == "从零实现自动微分与自定义 autograd 函数"
    set_language("ko")
    assert "역전파" in _(LESSONS["echo"].title)
    set_language("en")
    assert _(title) == title


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_lesson_title_translated(lang):
    set_language(lang)
    for rec in LESSONS.values():
        assert _(rec.title) not in ("", rec.title), (lang, rec.name)


def test_unknown_message_falls_back_to_english():
    set_language("ko")
    assert _("no such message, surely") == "no such message, surely"
    assert ngettext("one run", "{n} runs", 1) == "one run"
    assert ngettext("one run", "{n} runs", 3) == "{n} runs"


@pytest.mark.parametrize("value,code", [
    ("ja", "ja"), ("ja_JP.UTF-8", "ja"), ("zh_CN", "zh"), ("zh-Hans", "zh"), ("ko_KR", "ko"),
    ("KO", "ko"), ("en_US.UTF-8", "en"),
])
def test_resolve_language(value, code):
    assert resolve_language(value) == code


@pytest.mark.parametrize("value", ["fr", "de_DE.UTF-8", "", "C"])
def test_resolve_language_rejects(value):
    with pytest.raises(ValueError, match="en, ja, zh, ko"):
        resolve_language(value)
    with pytest.raises(ValueError):
        set_language(value)


@pytest.mark.parametrize("env,code", [
    ({}, "en"),
    ({"LANG": "ja_JP.UTF-8"}, "ja"),
    ({"LANG": "zh_CN"}, "zh"),
    ({"LANG": "ko_KR"}, "ko"),
    ({"LANG": "C.UTF-8"}, "en"),
    ({"LANG": "fr_FR.UTF-8"}, "en"),
    ({"LANG": "ja_JP.UTF-8", "LC_ALL": "ko_KR.UTF-8"}, "ko"),  # LC_ALL outranks LANG
    ({"LANG": "ja_JP.UTF-8", "LC_MESSAGES": "zh_CN.UTF-8"}, "zh"),
    ({"LANGUAGE": "fr:ko:ja", "LANG": "ja_JP.UTF-8"}, "ko"),  # first supported entry of the list
])
def test_language_from_environment(monkeypatch, env, code):
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    assert i18n.language_from_env() == code
    assert set_language(None) == code
    assert i18n.get_language() == code


def test_catalogue_files_ship_with_the_package():
    assert catalog.POT_PATH.is_file()
    for lang in TRANSLATED:
        assert catalog.po_path(lang).is_file() and catalog.mo_path(lang).is_file()
        assert isinstance(i18n.translation(lang), gettext.GNUTranslations)
    assert type(i18n.translation("en")) is gettext.NullTranslations
