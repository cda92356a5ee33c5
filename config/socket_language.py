"""The language of a WebSocket, decided as LocaleMiddleware decides a page's.

Channels has no locale middleware, so a socket would speak LANGUAGE_CODE whatever its
reader's page shows. `activate_socket_language` applies the pages' rule to the handshake
(the language cookie that the language switcher sets, then Accept-Language, then
LANGUAGE_CODE) and activates the result for the consumer: Channels dispatches every message
of a connection in the task that ran connect(), and the tasks and database threads the
consumer starts from there inherit the language.
"""

from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest, parse_cookie
from django.utils import translation


def scope_language(scope: Mapping[str, Any]) -> str:
    """The language LocaleMiddleware would choose for a request with this handshake's
    cookies and Accept-Language header."""
    request = HttpRequest()
    cookies: list[str] = []
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            cookies.append(value.decode("latin-1"))
        elif name == b"accept-language":
            request.META["HTTP_ACCEPT_LANGUAGE"] = value.decode("latin-1")
    request.COOKIES = parse_cookie("; ".join(cookies))
    # Kaiwa's URLs carry no language prefix (no i18n_patterns): the path is not checked.
    return translation.get_language_from_request(request, check_path=False)


def activate_socket_language(scope: Mapping[str, Any]) -> str:
    """Activate the socket's language for the calling consumer; returns it."""
    language = scope_language(scope)
    translation.activate(language)
    return language
