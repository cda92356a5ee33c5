"""Template helpers for Kaiwa's pages: Markdown, the demo banner, the script catalogue."""

from django import template
from django.conf import settings
from django.utils.html import json_script
from django.utils.safestring import SafeString, mark_safe

from conversations.markdown import render_markdown
from conversations.message_items import js_catalog

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str) -> SafeString:
    """Untrusted Markdown rendered and sanitised by conversations.markdown."""
    # render_markdown's output is sanitised by nh3 with an allow-list: safe to emit as-is.
    return mark_safe(render_markdown(text or ""))  # noqa: S308  # nosec B308, B703


@register.simple_tag
def llm_is_demo() -> bool:
    """True when the offline demo backend answers (no provider configured)."""
    return settings.LLM_PROVIDER == "demo"


@register.simple_tag
def script_catalogue() -> SafeString:
    """The page scripts' translations as <script type="application/json" id="kaiwa-i18n">."""
    return json_script(js_catalog(), "kaiwa-i18n")
