"""Checks on rendered pages: CSP-readiness (no inline code) and what a page's HTML holds."""

from __future__ import annotations

from html.parser import HTMLParser


class _PageChecker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.scripts: list[dict[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        for name, _value in attrs:
            if name.startswith("on"):
                self.problems.append(f"inline event handler {name}= on <{tag}>")
            if name == "style":
                self.problems.append(f"inline style= on <{tag}>")
        if tag == "a" and (names.get("href") or "").strip().lower().startswith("javascript:"):
            self.problems.append("javascript: link")
        if tag == "script":
            self.scripts.append(names)
            if names.get("type") != "application/json" and not names.get("src"):
                self.problems.append(f"inline executable <script {names}>")
        if tag == "style":
            self.problems.append("inline <style> element")

    handle_startendtag = handle_starttag


def csp_problems(html: str) -> list[str]:
    """Everything a strict CSP (script-src/style-src 'self', no 'unsafe-inline') would block."""
    checker = _PageChecker()
    checker.feed(html)
    checker.close()
    return checker.problems


def scripts(html: str) -> list[dict[str, str | None]]:
    checker = _PageChecker()
    checker.feed(html)
    return checker.scripts


class _ElementText(HTMLParser):
    """Inner HTML of every element carrying a given attribute (e.g. data-body)."""

    _VOID = {"br", "hr", "img", "input", "meta", "link", "source", "wbr", "area", "col"}

    def __init__(self, attribute: str) -> None:
        super().__init__(convert_charrefs=False)
        self.attribute = attribute
        self.depth = 0
        self.current: list[str] = []
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        if self.depth:
            self.current.append(self.get_starttag_text())
            if tag not in self._VOID:
                self.depth += 1
        elif any(name == self.attribute for name, _ in attrs):
            self.depth = 1
            self.current = []

    def handle_startendtag(self, tag, attrs):
        if self.depth:
            self.current.append(self.get_starttag_text())

    def handle_endtag(self, tag):
        if not self.depth:
            return
        self.depth -= 1
        if self.depth == 0:
            self.found.append("".join(self.current))
        else:
            self.current.append(f"</{tag}>")

    def handle_data(self, data):
        if self.depth:
            self.current.append(data)

    def handle_entityref(self, name):
        if self.depth:
            self.current.append(f"&{name};")

    def handle_charref(self, name):
        if self.depth:
            self.current.append(f"&#{name};")


def inner_html_of(html: str, attribute: str) -> list[str]:
    parser = _ElementText(attribute)
    parser.feed(html)
    parser.close()
    return parser.found
