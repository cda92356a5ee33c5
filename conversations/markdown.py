"""Render LLM replies (Markdown) into sanitised HTML.

Used by page templates and by the WebSocket/SSE ``done`` events, so the output
must be safe to insert with ``innerHTML`` / ``|safe`` as-is.

Pipeline: markdown-it-py (CommonMark + tables + strikethrough, raw HTML off)
-> Pygments for fenced code -> nh3 with an explicit allow-list.  nh3 is the
security boundary: even if the Markdown stage is misconfigured later, nothing
outside the allow-list below can reach the browser.

Policy decisions (keep in sync with tests/conversations/test_markdown.py):

* Tags: p br hr h1-h6 strong em del s code pre blockquote ul ol li a img
  table thead tbody tr th td span div.  Everything else is stripped (text kept).
* Attributes: a[href,title], img[src,alt,title], span/code/pre/div[class],
  ol[start] (digits only, so "3." lists keep their numbering).  No style, so
  table column alignment is dropped on purpose.
* URL schemes: http, https, mailto (plus scheme-less relative URLs).
* Links always get ``target="_blank"`` together with
  ``rel="noopener noreferrer nofollow"``: a click must not navigate away from
  a conversation that may still be streaming, and noopener prevents reverse
  tabnabbing.  Any ``target``/``rel`` from the input is overwritten.
* Images: only same-origin relative ``src`` survives (e.g. our own
  ``/api/images/<id>/file/``).  External ``http:``/``https:``/``//`` images
  would let a prompt-injected reply beacon data to a third party on page load,
  so their ``src`` is removed by the nh3 ``attribute_filter`` and only the alt
  text remains.
* Classes: only ``hl``, ``hl-*`` (Pygments tokens) and ``language-*`` survive,
  so model output can never borrow arbitrary page CSS classes.
"""

from __future__ import annotations

import html
import logging
import re
from functools import cache

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from pygments import highlight as pygments_highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

logger = logging.getLogger(__name__)

# Class on the <pre> wrapper of fenced code; Pygments token classes are
# "hl-<token>", so the stylesheet is scoped as ".hl .hl-k { ... }".
HIGHLIGHT_CLASS = "hl"
TOKEN_CLASS_PREFIX = f"{HIGHLIGHT_CLASS}-"
LANGUAGE_CLASS_PREFIX = "language-"
DEFAULT_PYGMENTS_STYLE = "default"

# Above this size highlighting is skipped: lexing is regex-driven and a huge
# paste should not stall a worker; plain escaped code is still readable.
_MAX_HIGHLIGHT_CHARS = 100_000

# Language names end up in a class attribute; anything odd is just not used
# as a class (the code is still rendered).
_LANGUAGE_RE = re.compile(r"[A-Za-z0-9_+#.-]{1,40}")
_ALLOWED_CLASS_RE = re.compile(
    rf"{re.escape(HIGHLIGHT_CLASS)}|{re.escape(TOKEN_CLASS_PREFIX)}[A-Za-z0-9_-]+"
    rf"|{re.escape(LANGUAGE_CLASS_PREFIX)}[A-Za-z0-9_+#.-]+"
)
_DIGITS_RE = re.compile(r"[0-9]{1,9}")
# URL scheme as the WHATWG URL parser sees it.
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
# The URL parser drops tab/LF/CR anywhere and C0 controls/space at the ends,
# so "/\t/evil.example" is really "//evil.example": normalise before checking.
_URL_TAB_NEWLINE_RE = re.compile(r"[\t\n\r]")
_URL_STRIP_CHARS = "".join(chr(i) for i in range(0x21))

_FORMATTER = HtmlFormatter(classprefix=TOKEN_CLASS_PREFIX, nowrap=True)


def _code_block(body_html: str, lang: str) -> str:
    """Wrap already-escaped code in our <pre class="hl"><code> container."""
    code_class = ""
    if _LANGUAGE_RE.fullmatch(lang):
        code_class = f' class="{LANGUAGE_CLASS_PREFIX}{escapeHtml(lang)}"'
    return f'<pre class="{HIGHLIGHT_CLASS}"><code{code_class}>{body_html}</code></pre>'


def _highlight(code: str, lang: str, _attrs: str) -> str:
    """markdown-it highlight hook: Pygments for known languages, escaped text otherwise."""
    # Returning a string starting with "<pre" makes markdown-it use it verbatim,
    # so every fenced block gets the same wrapper whether highlighted or not.
    body = escapeHtml(code)
    if lang and len(code) <= _MAX_HIGHLIGHT_CHARS:
        try:
            # No guess_lexer(): guessing is slow and mislabels prose as code.
            lexer = get_lexer_by_name(lang, stripnl=False)
            body = pygments_highlight(code, lexer, _FORMATTER)
        except ClassNotFound:
            pass
        except Exception:  # a buggy lexer must not take the whole reply down
            logger.warning("Pygments failed for language %r", lang, exc_info=True)
    return _code_block(body, lang)


def _build_markdown() -> MarkdownIt:
    """Create the shared parser: CommonMark + tables + strikethrough, raw HTML off."""
    md = MarkdownIt(
        "commonmark",
        # html=False: raw HTML from the model is escaped and shown as text.
        # linkify stays off: it needs linkify-it-py, which we don't depend on.
        {"html": False, "linkify": False, "typographer": False, "highlight": _highlight},
    )
    md.enable(["table", "strikethrough"])
    return md


def _is_same_origin_relative(url: str) -> bool:
    """True if a browser would resolve url against our own origin (no scheme, no //host)."""
    normalized = _URL_TAB_NEWLINE_RE.sub("", url).strip(_URL_STRIP_CHARS)
    # Browsers treat "\" like "/" in http(s) URLs: "/\evil.example" is protocol-relative.
    normalized = normalized.replace("\\", "/")
    if not normalized or normalized.startswith("//"):
        return False
    return _SCHEME_RE.match(normalized) is None


def _filter_class(value: str) -> str | None:
    """Keep only our own class names (hl, hl-*, language-*)."""
    kept = [c for c in value.split() if _ALLOWED_CLASS_RE.fullmatch(c)]
    return " ".join(kept) or None


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    """nh3 hook: per-attribute value checks that the static allow-list can't express."""
    # nh3 keeps the attribute if this callback raises (fail-open), so never raise.
    try:
        if attr == "class":
            return _filter_class(value)
        if tag == "img" and attr == "src":
            return value if _is_same_origin_relative(value) else None
        if tag == "ol" and attr == "start":
            return value if _DIGITS_RE.fullmatch(value) else None
        return value
    except Exception:
        logger.exception("attribute filter failed for <%s %s>", tag, attr)
        return None


_ALLOWED_TAGS: set[str] = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6",
    "strong", "em", "del", "s", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "img",
    "table", "thead", "tbody", "tr", "th", "td", "span", "div",
}  # fmt: skip
_ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "span": {"class"},
    "code": {"class"},
    "pre": {"class"},
    "div": {"class"},
}

_MD = _build_markdown()
_CLEANER = nh3.Cleaner(
    tags=_ALLOWED_TAGS,
    # Belt and braces: if raw HTML ever gets through, drop these with their content.
    clean_content_tags={"script", "style"},
    attributes=_ALLOWED_ATTRIBUTES,
    attribute_filter=_attribute_filter,
    strip_comments=True,
    link_rel="noopener noreferrer nofollow",
    set_tag_attribute_values={"a": {"target": "_blank"}},
    url_schemes={"http", "https", "mailto"},
)


def _to_valid_unicode(text: str) -> str:
    """Replace lone surrogates, which nh3 (Rust) refuses to accept."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # UTF-16 round trip joins split surrogate pairs back into one character
        # and turns each lone surrogate into a single U+FFFD.
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def render_markdown(text: str) -> str:
    """Render untrusted Markdown (an LLM reply) to sanitised HTML; never raises."""
    if not text:
        return ""
    text = _to_valid_unicode(str(text))
    try:
        rendered = _MD.render(text)
    except Exception:
        # Parser bug on odd input: show the reply as escaped text rather than fail
        # the page or the streaming "done" event.
        logger.exception("markdown rendering failed; falling back to escaped text")
        rendered = f"<p>{html.escape(text)}</p>"
    try:
        return _CLEANER.clean(rendered)
    except Exception:
        # Not expected (input is valid UTF-8 by now), but fail closed: text only.
        logger.exception("sanitising failed; falling back to escaped text")
        return f"<p>{html.escape(text)}</p>"


@cache
def highlight_css(style: str = DEFAULT_PYGMENTS_STYLE) -> str:
    """Pygments stylesheet scoped to ``.hl`` for the token classes render_markdown emits."""
    formatter = HtmlFormatter(style=style, classprefix=TOKEN_CLASS_PREFIX)
    selector = f".{HIGHLIGHT_CLASS}"
    # Only the scoped parts: get_style_defs() also emits global rules such as
    # "pre { line-height: 125% }" that would restyle the whole site.
    lines = formatter.get_background_style_defs(selector)
    lines += formatter.get_token_style_defs(selector)
    return "\n".join(lines) + "\n"
