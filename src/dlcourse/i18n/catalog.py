"""Maintain the message catalogues: extract, merge, compile, report what is untranslated.

    python -m dlcourse.i18n.catalog          # update dlcourse.pot, merge each .po, compile each .mo
    python -m dlcourse.i18n.catalog --check  # write nothing; exit 1 if stale or untranslated (CI)

Message ids come from every `_("...")`, `gettext("...")` and `ngettext("...", "...", n)` call with
literal strings in `src/dlcourse/**/*.py`, plus every lesson title declared in the lessons. A call
on a variable or an f-string, `_(f"{n} runs")`, cannot be extracted: translate a template and
format it after, `_("{n} runs").format(n=n)`. A `# TRANSLATORS:` comment just above a call reaches
the translators. Merging keeps existing translations; a msgid that changed gets the old translation
marked fuzzy, which counts as missing until it is reviewed. Files are rewritten only when their
messages change (dates aside), so an idle run leaves no diff.

Uses Babel (a dev/test dependency), which is why nothing at runtime imports this module.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import gettext
import io
import re
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

import dlcourse
from dlcourse.i18n import DOMAIN, LANGUAGES, LOCALE_DIR

PACKAGE_DIR = Path(dlcourse.__file__).resolve().parent
POT_PATH = LOCALE_DIR.parent / f"{DOMAIN}.pot"
TRANSLATED = tuple(lang for lang in LANGUAGES if lang != "en")  # English is the msgid itself
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2)}
HEADER = "# Messages of dlcourse ({what}).\n# After editing: python -m dlcourse.i18n.catalog\n#"


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(lang: str) -> Path:
    return po_path(lang).with_suffix(".mo")


def build_template() -> Catalog:
    """A fresh template: lesson titles in catalogue order, then the sources' messages in file order."""
    from dlcourse import registry

    template = Catalog(project="dlcourse", version=dlcourse.__version__, fuzzy=False,
                       header_comment=HEADER.format(what="template"))
    for lesson in registry.lessons():
        template.add(lesson.title, locations=[(f"dlcourse/experiments/{lesson.name}.py", None)],
                     auto_comments=[f"title of lesson {lesson.name}"])
    found = Catalog()  # adding a message twice merges its locations and comments
    for filename, lineno, message, comments, context in extract_from_dir(
            PACKAGE_DIR, method_map=[("**.py", "python")], keywords=KEYWORDS,
            comment_tags=("TRANSLATORS:",), strip_comment_tags=True):
        found.add(message, locations=[(f"dlcourse/{filename}", lineno)], auto_comments=comments,
                  context=context)
    # Before Python 3.12 Babel reads an f-string as one token, so `f"{_('error')}: {e}"` escapes it;
    # the syntax tree does not.
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        where = f"dlcourse/{path.relative_to(PACKAGE_DIR).as_posix()}"
        for message, lineno in _ast_messages(path):
            found.add(message, locations=[(where, lineno)])
    # Order by first occurrence, so the template is the same whichever pass found a message.
    for m in sorted((m for m in found if m.id), key=lambda m: min(m.locations)):
        template.add(m.id, locations=m.locations, auto_comments=m.auto_comments, context=m.context)
    return template


def _ast_messages(path: Path):
    """(msgid, line) of every keyword call with literal string arguments in a source file."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in KEYWORDS:
            n = 2 if KEYWORDS[node.func.id] else 1  # ngettext: singular and plural
            ids = [a.value for a in node.args[:n] if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if len(ids) == n:
                yield (tuple(ids) if n == 2 else ids[0]), node.lineno


def _render_po(catalog: Catalog) -> bytes:
    buf = io.BytesIO()
    # No line numbers: editing code must not churn the catalogues.
    write_po(buf, catalog, width=100, include_lineno=False, ignore_obsolete=True)
    return buf.getvalue()


def _render_mo(catalog: Catalog) -> bytes:
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    return buf.getvalue()


def _read(path: Path, lang: str | None = None) -> Catalog | None:
    if not path.exists():
        return None
    with path.open("rb") as f:
        return read_po(f, locale=lang)


# Header lines that change on every run or with the Babel version, and say nothing about messages.
_VOLATILE = re.compile(rb'^"(POT-Creation-Date|PO-Revision-Date|Generated-By): .*"\n', re.M)


def _mo_messages(data: bytes) -> tuple[dict, str]:
    mo = gettext.GNUTranslations(io.BytesIO(data))
    return {k: v for k, v in mo._catalog.items() if k != ""}, mo.info().get("plural-forms", "")


def _same(path: Path, data: bytes) -> bool:
    """Whether the file already says what `data` says (dates and generator version aside)."""
    if not path.exists():
        return False
    old = path.read_bytes()
    if path.suffix == ".mo":
        return _mo_messages(old) == _mo_messages(data)
    return _VOLATILE.sub(b"", old) == _VOLATILE.sub(b"", data)


def _planned() -> dict[Path, bytes]:
    """The content every catalogue file should have after extraction, merge and compilation."""
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    template = build_template()
    template.creation_date = now
    files = {POT_PATH: _render_po(template)}
    for lang in TRANSLATED:
        po = _read(po_path(lang), lang) or Catalog(locale=lang, project="dlcourse", fuzzy=False)
        po.header_comment = HEADER.format(what=lang)
        po.update(template, update_creation_date=True)  # fuzzy-matches changed msgids
        po.version = dlcourse.__version__
        po.revision_date = now
        files[po_path(lang)] = _render_po(po)
        files[mo_path(lang)] = _render_mo(po)
    return files


def stale_files() -> list[Path]:
    """Catalogue files that an update would change (or create)."""
    return [path for path, data in _planned().items() if not _same(path, data)]


def update() -> list[Path]:
    """Extract, merge and compile; returns the files written (only those whose messages changed)."""
    written = []
    for path, data in _planned().items():
        if not _same(path, data):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            written.append(path)
    return written


def missing_translations(langs: tuple[str, ...] = TRANSLATED) -> dict[str, list[str]]:
    """For each language, the msgids (freshly extracted) with no usable translation in its .po:
    absent, empty, or fuzzy. A plural message is listed by its singular."""
    template = build_template()
    missing: dict[str, list[str]] = {}
    for lang in langs:
        po = _read(po_path(lang), lang) or Catalog(locale=lang)
        missing[lang] = []
        for message in template:
            if not message.id:
                continue  # the header
            found = po.get(message.id, message.context)
            strings = found.string if found is not None else ""
            strings = strings if isinstance(strings, (tuple, list)) else (strings,)
            if found is None or found.fuzzy or not all(strings):
                missing[lang].append(message.id[0] if isinstance(message.id, tuple) else message.id)
    return missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dlcourse.i18n.catalog",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a file is stale or a message untranslated")
    args = parser.parse_args(argv)
    changed = stale_files() if args.check else update()
    for path in changed:
        print(f"{'stale' if args.check else 'wrote'}: {path.relative_to(PACKAGE_DIR)}")
    missing = missing_translations()
    for lang, ids in missing.items():
        for msgid in ids:
            print(f"untranslated [{lang}]: {msgid}")
    ok = not any(missing.values()) and not (args.check and changed)
    print("catalogues up to date" if ok else "catalogues need work", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
