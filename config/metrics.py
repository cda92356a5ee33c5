"""GET /metrics: Prometheus metrics of this process, for the scraper only.

With METRICS_TOKEN set, the scraper sends `Authorization: Bearer <METRICS_TOKEN>`; without
it, only loopback clients are answered. Everyone else gets a 404, as for any hidden object.
The client is REMOTE_ADDR, which X-Forwarded-For changes only when the request comes from
one of TRUSTED_PROXIES (config/proxy_headers.py): a header alone never makes a loopback
client.
"""

import hmac

from django.conf import settings
from django.http import Http404, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

# IPv4 clients of a dual-stack listener appear as ::ffff:127.0.0.1.
_LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


def metrics(request):
    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise Http404
    elif request.META.get("REMOTE_ADDR") not in _LOOPBACK:
        raise Http404
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)
