"""ASGI entry point: HTTP (Django, SSE) and WebSocket (Channels) in one process."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Initialise Django (apps, settings) before importing anything that touches models.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from assistant.startup import (  # noqa: E402
    freeze_startup_objects,
    prepare_process,
    shorten_gil_switch_interval,
)
from config.body_limit import BodyLimitMiddleware, install_daphne_body_limit  # noqa: E402
from config.proxy_headers import TrustedProxyMiddleware  # noqa: E402
from config.websocket_urls import websocket_urlpatterns  # noqa: E402

# Refuse to serve with a misconfigured LLM provider; mark replies orphaned by a dead process.
prepare_process()
# The event loop gets the GIL back from the database threads within 0.5 ms, not 5.
shorten_gil_switch_interval()
# Bodies over MAX_REQUEST_BODY_BYTES: refused by daphne while they arrive, and by the
# middleware below under any other ASGI server (config/body_limit.py).
install_daphne_body_limit()

# The client address first, for HTTP and WebSocket alike (TRUSTED_PROXIES).
application = TrustedProxyMiddleware(
    ProtocolTypeRouter(
        {
            "http": BodyLimitMiddleware(django_asgi_app),
            "websocket": AllowedHostsOriginValidator(
                AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
            ),
        }
    )
)

# Last: everything made so far lives as long as the process (assistant/startup.py).
freeze_startup_objects()
