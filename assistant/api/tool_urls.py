"""Routes of the tool endpoints: analyze, the smart assistant and images."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from assistant.api import tool_views

router = SimpleRouter()
router.register("images", tool_views.ImageViewSet, basename="image")

urlpatterns = [
    path("analyze/", tool_views.AnalyzeView.as_view(), name="analyze"),
    path("assistant/", tool_views.AssistantView.as_view(), name="assistant"),
    path("images/<uuid:pk>/file/", tool_views.ImageFileView.as_view(), name="image-file"),
    *router.urls,
]
