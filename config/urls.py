from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config import health, metrics

api_patterns = [
    path("", include("accounts.api.urls")),
    # assistant first: its messages view (GET list + POST send) extends the CRUD one.
    path("", include("assistant.api.urls")),
    path("", include("assistant.api.tool_urls")),
    path("", include("conversations.api.urls")),
    path("", include("usage.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's init script from ?script, not inline: CSP-clean.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/", include(api_patterns)),
    # The OpenAI-compatible routes (/v1/…, Azure's /openai/deployments/…): token only.
    path("", include("assistant.openai_compat.urls")),
    path("", include("usage.urls")),
    path("", include("conversations.urls")),
]

handler400 = "config.api_errors.bad_request"
handler404 = "config.api_errors.page_not_found"
handler500 = "config.api_errors.server_error"

if settings.DEBUG:
    from django.contrib.staticfiles.urls import staticfiles_urlpatterns

    urlpatterns += staticfiles_urlpatterns()
