"""Tests for conversations.markdown (pure functions, no Django needed)."""

from __future__ import annotations

import random
import time

import pytest

from conversations import markdown
from conversations.markdown import highlight_css, render_markdown
from tests.conversations.xss_corpus import XSS_PAYLOADS, assert_inert

LINK_REL = 'rel="noopener noreferrer nofollow"'


# --- Markdown basics -------------------------------------------------------


def test_headings_emphasis_and_lists() -> None:
    html = render_markdown(
        "# Title\n\n## Sub\n\nSome *em*, **strong** and ~~gone~~ and `code`.\n\n"
        "- one\n- two\n\n1. first\n2. second\n\n> quoted\n\n---\n"
    )
    assert "<h1>Title</h1>" in html
    assert "<h2>Sub</h2>" in html
    assert "<em>em</em>" in html
    assert "<strong>strong</strong>" in html
    assert "<s>gone</s>" in html
    assert "<code>code</code>" in html
    assert "<ul>\n<li>one</li>" in html
    assert "<ol>\n<li>first</li>" in html
    assert "<blockquote>" in html
    assert "<hr>" in html
    assert_inert(html)


def test_ordered_list_start_is_kept() -> None:
    assert '<ol start="3">' in render_markdown("3. three\n4. four\n")


def test_table_renders_without_style() -> None:
    html = render_markdown("| a | b |\n|:--|--:|\n| 1 | 2 |\n")
    for tag in ("<table>", "<thead>", "<tbody>", "<th>a</th>", "<td>2</td>"):
        assert tag in html
    # Column alignment would need style=, which is deliberately not allowed.
    assert "style" not in html


@pytest.mark.parametrize(
    ("markdown", "href"),
    [
        ("[site](https://example.com/a?b=1)", "https://example.com/a?b=1"),
        ("[site](http://example.com/)", "http://example.com/"),
        ("[mail](mailto:someone@example.com)", "mailto:someone@example.com"),
        ("<https://example.com/auto>", "https://example.com/auto"),
        ("[rel](/conversations/1/)", "/conversations/1/"),
        ("[x][r]\n\n[r]: https://example.com/ref", "https://example.com/ref"),
    ],
)
def test_safe_links_keep_href_and_get_rel(markdown: str, href: str) -> None:
    html = render_markdown(markdown)
    assert f'href="{href}"' in html
    assert LINK_REL in html
    assert 'target="_blank"' in html
    assert_inert(html)


def test_link_title_kept_and_input_target_rel_overridden() -> None:
    html = render_markdown('[x](https://example.com "Example")')
    assert 'title="Example"' in html
    assert html.count("target=") == 1
    assert html.count("rel=") == 1


@pytest.mark.parametrize(
    "markdown",
    [
        "[x](javascript:alert(1))",
        "[x](ftp://example.com/file)",
        "[x](data:text/html,hi)",
        "<javascript:alert(1)>",
    ],
)
def test_disallowed_schemes_have_no_href(markdown: str) -> None:
    html = render_markdown(markdown)
    assert "href" not in html
    assert_inert(html)


# --- Code blocks -------------------------------------------------------------


def test_fenced_python_is_highlighted_with_prefix() -> None:
    html = render_markdown("```python\ndef greet(name):\n    return f'hi {name}'\n```\n")
    assert '<pre class="hl"><code class="language-python">' in html
    assert '<span class="hl-k">def</span>' in html
    assert 'class="hl-nf"' in html
    assert_inert(html)


def test_fenced_html_is_shown_escaped() -> None:
    html = render_markdown("```html\n<script>alert(1)</script>\n```\n")
    assert "&lt;" in html
    assert "script" in html  # the text is there, just not as a tag
    assert "<script" not in html
    assert_inert(html)


def test_fenced_block_without_language_is_escaped() -> None:
    html = render_markdown("```\n<script>alert(1)</script>\n```\n")
    assert '<pre class="hl"><code>&lt;script&gt;alert(1)&lt;/script&gt;\n</code></pre>' in html


def test_unknown_language_falls_back_to_plain_code() -> None:
    html = render_markdown("```no-such-lang-xyz\na < b\n```\n")
    assert '<code class="language-no-such-lang-xyz">a &lt; b\n</code>' in html
    assert "hl-" not in html


def test_weird_language_name_gets_no_class() -> None:
    html = render_markdown('```"><b>x\ncode\n```\n')
    assert "<b>" not in html
    assert "<code>code\n</code>" in html


def test_indented_code_block_is_escaped() -> None:
    html = render_markdown("    <b>bold?</b>\n")
    assert "<pre><code>&lt;b&gt;bold?&lt;/b&gt;\n</code></pre>" in html


# --- Raw HTML & classes --------------------------------------------------------


def test_raw_html_is_escaped_not_rendered() -> None:
    html = render_markdown('Hello <b>world</b> <img src=x onerror=alert(1)> <div class="x">')
    assert "&lt;b&gt;world&lt;/b&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<b>" not in html
    assert "<img" not in html
    assert_inert(html)


def test_html_block_is_escaped() -> None:
    html = render_markdown("<div>\n<script>alert(1)</script>\n</div>\n")
    assert "<div>" not in html
    assert "&lt;script&gt;" in html


def test_sanitiser_filters_classes_to_our_prefixes() -> None:
    # Not reachable through Markdown (raw HTML is off), but nh3 is the security
    # boundary, so check it on its own.
    cleaned = markdown._CLEANER.clean(
        '<span class="btn btn-danger hl-k language-py hl">x</span>'
        '<div class="modal">y</div><p class="hl">z</p>'
    )
    assert '<span class="hl-k language-py hl">x</span>' in cleaned
    assert "<div>y</div>" in cleaned
    assert "<p>z</p>" in cleaned


def test_sanitiser_drops_disallowed_tags_and_attributes() -> None:
    cleaned = markdown._CLEANER.clean(
        '<script>alert(1)</script><td align="right" style="color:red">c</td>'
        '<a href="/x" target="_top" onclick="x()">a</a><iframe src="/x"></iframe>'
    )
    assert "alert" not in cleaned
    assert "align" not in cleaned
    assert "style" not in cleaned
    assert "onclick" not in cleaned
    assert "iframe" not in cleaned
    assert 'target="_blank"' in cleaned


def test_template_syntax_is_plain_text() -> None:
    payload = "{{constructor.constructor('alert(1)')()}}"
    html = render_markdown(payload)
    assert html == "<p>{{constructor.constructor('alert(1)')()}}</p>\n"


# --- Images -------------------------------------------------------------------


def test_own_relative_image_survives() -> None:
    html = render_markdown("![chart](/api/images/1/file/)")
    assert '<img src="/api/images/1/file/" alt="chart">' in html
    assert_inert(html)


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/x.png",
        "http://evil.example/x.png",
        "//evil.example/x.png",
        "HTTPS://EVIL.EXAMPLE/x.png",
        "data:image/png;base64,iVBORw0KGgo=",
    ],
)
def test_external_image_src_is_removed(url: str) -> None:
    html = render_markdown(f"![tracker]({url})")
    assert "evil" not in html.lower()
    assert "src=" not in html
    assert 'alt="tracker"' in html  # alt text remains as the visible fallback
    assert_inert(html)


@pytest.mark.parametrize(
    ("src", "kept"),
    [
        ("/api/images/1/file/", True),
        ("images/a.png", True),
        ("https://evil.example/x.png", False),
        ("//evil.example/x.png", False),
        ("/\\evil.example/x.png", False),
        ("\\\\evil.example/x.png", False),
        ("/\t/evil.example/x.png", False),
        (" //evil.example/x.png", False),
        ("", False),
    ],
)
def test_sanitiser_image_src_policy(src: str, kept: bool) -> None:
    cleaned = markdown._CLEANER.clean(f'<img src="{src}" alt="a">')
    assert ("src=" in cleaned) is kept
    assert_inert(cleaned)


# --- Unicode / robustness -------------------------------------------------------


def test_japanese_text_survives_intact() -> None:
    text = (
        "こんにちは、世界！これは**太字**と『引用』です。"
        "漢字・ひらがな・カタカナ、全角スペース　も。"
    )
    html = render_markdown(text)
    assert html == (
        "<p>こんにちは、世界！これは<strong>太字</strong>と『引用』です。"
        "漢字・ひらがな・カタカナ、全角スペース　も。</p>\n"
    )


def test_empty_input() -> None:
    assert render_markdown("") == ""


def test_lone_surrogates_do_not_raise() -> None:
    html = render_markdown("a\ud800b \ud83d\ude00")
    assert html == "<p>a\ufffdb \U0001f600</p>\n"


_FUZZ_ALPHABET = (
    "abc XYZ 019 \n\n\t*_~`#>-+=|[](){}<>!\"'&;:/\\.%?@$"
    "\x00\x0b\x1b\x7f\u00a0\u200b\u202e\u3000日本語😀\ufeff\ufffd"
)


def _random_text(rng: random.Random, length: int) -> str:
    """Mix of Markdown syntax, control chars and arbitrary code points."""
    chars = []
    for _ in range(length):
        if rng.random() < 0.8:
            chars.append(rng.choice(_FUZZ_ALPHABET))
        else:
            chars.append(chr(rng.randrange(0x110000)))  # includes lone surrogates
    return "".join(chars)


def test_fuzz_random_unicode_never_raises() -> None:
    rng = random.Random(20240601)
    for _ in range(300):
        html = render_markdown(_random_text(rng, rng.randrange(1, 400)))
        assert isinstance(html, str)
        assert_inert(html)


def test_fuzz_payload_mutations_stay_inert() -> None:
    rng = random.Random(7)
    for _ in range(300):
        a, b = rng.choice(XSS_PAYLOADS), rng.choice(XSS_PAYLOADS)
        cut = rng.randrange(len(a) + 1)
        mutated = a[:cut] + rng.choice(["", "\n", "\t", "&#x09;", "\x00", " "]) + b
        assert_inert(render_markdown(mutated))


@pytest.mark.parametrize(
    "text",
    [
        "x" * 500_000,
        "> " * 10_000 + "deep",
        "- " * 5_000 + "deep",
        "*" * 50_000,
        "[" * 50_000 + "](" * 10_000,
        "`" * 50_000,
        "<" * 50_000,
        "```python\n" + "def f(x):\n    return x\n" * 10_000 + "```\n",
        "| a |\n|---|\n" + "| b |\n" * 10_000,
    ],
    ids=[
        "long-line",
        "deep-quote",
        "deep-list",
        "stars",
        "brackets",
        "backticks",
        "angles",
        "big-code",
        "big-table",
    ],
)
def test_large_and_pathological_input_is_fast(text: str) -> None:
    start = time.perf_counter()
    html = render_markdown(text)
    assert time.perf_counter() - start < 5
    assert_inert(html)


# --- XSS corpus -----------------------------------------------------------------


def test_corpus_is_large_enough() -> None:
    assert len(XSS_PAYLOADS) >= 60
    assert len(set(XSS_PAYLOADS)) == len(XSS_PAYLOADS)


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_xss_payload_renders_inert(payload: str) -> None:
    assert_inert(render_markdown(payload))


@pytest.mark.parametrize(
    "bad_html",
    [
        "<script>alert(1)</script>",
        "<p>ok</p><SCRIPT SRC=//x></SCRIPT>",
        '<img src="/ok.png" onerror="alert(1)">',
        '<div OnMouseOver="x()">x</div>',
        '<a href="javascript:alert(1)">x</a>',
        '<a href="  JaVaScRiPt:alert(1)">x</a>',
        '<a href="jav&#x09;ascript:alert(1)">x</a>',
        '<a href="&#106;avascript:alert(1)">x</a>',
        '<a href="vbscript:msgbox(1)">x</a>',
        '<a href="data:text/html,x">x</a>',
        '<a href="https://ok.example" target="_blank">no rel</a>',
        '<img src="https://evil.example/x.png">',
        '<img src="http://evil.example/x.png">',
        '<img src="//evil.example/x.png">',
        '<img src="/\\evil.example/x.png">',
        '<img src="data:image/png;base64,AA">',
        '<img src="/ok.png" srcset="https://evil.example/x.png 2x">',
        '<iframe srcdoc="&lt;script&gt;alert(1)&lt;/script&gt;"></iframe>',
        '<form action="https://evil.example"></form>',
        '<button formaction="javascript:alert(1)">x</button>',
        '<meta http-equiv="refresh" content="0;url=https://evil.example">',
        '<base href="https://evil.example/">',
        '<link rel="stylesheet" href="https://evil.example/x.css">',
        "<style>*{}</style>",
        '<div style="background:url(javascript:alert(1))">x</div>',
        "<svg/onload=alert(1)>",
        '<svg><a xlink:href="javascript:alert(1)">x</a></svg>',
        "<math><mi>x</mi></math>",
        '<object data="https://evil.example/x.swf"></object>',
        '<embed src="https://evil.example/x.swf">',
    ],
)
def test_assert_inert_rejects_dangerous_html(bad_html: str) -> None:
    with pytest.raises(AssertionError):
        assert_inert(bad_html)


@pytest.mark.parametrize(
    "good_html",
    [
        "<p>plain &lt;script&gt; text</p>",
        '<a href="https://ok.example" target="_blank" rel="noopener noreferrer nofollow">x</a>',
        '<img src="/api/images/1/file/" alt="x">',
        '<pre class="hl"><code class="language-python"><span class="hl-k">def</span></code></pre>',
        "<p>javascript: is just a word here</p>",
    ],
)
def test_assert_inert_accepts_safe_html(good_html: str) -> None:
    assert_inert(good_html)


# --- Stylesheet -------------------------------------------------------------------


def test_highlight_css_is_scoped_to_prefix() -> None:
    css = highlight_css()
    assert ".hl .hl-k {" in css
    assert ".hl {" in css
    # Only scoped rules: no global "pre { ... }" from Pygments' line-number CSS.
    for line in css.splitlines():
        assert line.startswith(".hl"), line
