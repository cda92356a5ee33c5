"""Japanese translations are complete, compiled, and cover the strings the pages use."""

import gettext
import re
from pathlib import Path

from django.conf import settings

LOCALE = Path(settings.BASE_DIR) / "locale" / "ja" / "LC_MESSAGES"
TEMPLATES = Path(settings.BASE_DIR) / "templates"


def _po_entries(path: Path) -> list[tuple[str, str, bool]]:
    """(msgid, msgstr, fuzzy) of every entry but the header."""
    entries = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        fuzzy = "#, fuzzy" in block
        msgid = _joined(re.search(r"^msgid ((?:\".*\"\n?)+)", block, re.M))
        # A plural entry's first form (msgstr[0]) stands for it: Japanese has one form.
        msgstr = _joined(re.search(r"^msgstr(?:\[0\])? ((?:\".*\"\n?)+)", block, re.M))
        if msgid:
            entries.append((msgid, msgstr, fuzzy))
    return entries


def _joined(match) -> str:
    if not match:
        return ""
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"', match.group(1))
    return "".join(parts).replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")


def test_every_japanese_string_is_translated():
    entries = _po_entries(LOCALE / "django.po")
    assert len(entries) > 100
    assert [m for m, s, fuzzy in entries if not s or fuzzy] == []


def test_compiled_catalogue_matches_the_po_file():
    with open(LOCALE / "django.mo", "rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    stale = [m for m, s, _ in _po_entries(LOCALE / "django.po") if compiled.gettext(m) != s]
    assert stale == [], "Run `python manage.py compilemessages --ignore=.venv` and commit the .mo."


def test_template_strings_are_in_the_catalogue():
    known = {m for m, _, _ in _po_entries(LOCALE / "django.po")}
    used = set()
    for path in TEMPLATES.rglob("*.html"):
        source = path.read_text(encoding="utf-8")
        used |= set(re.findall(r'{% translate "([^"]+)"', source))
        used |= set(re.findall(r"{% translate '([^']+)'", source))
        used |= set(re.findall(r'_\("([^"]+)"\)', source))
    assert used, "no translatable strings found: is the pattern still right?"
    assert sorted(used - known) == [], "Run makemessages (see the .po header) and translate."
