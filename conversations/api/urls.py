from django.urls import path
from rest_framework.routers import SimpleRouter

from conversations.api.views import (
    AllowedModelListView,
    ConversationViewSet,
    MessageListView,
    MessageSelectView,
    NoteViewSet,
)

router = SimpleRouter()
router.register("conversations", ConversationViewSet, basename="conversation")
router.register("notes", NoteViewSet, basename="note")

urlpatterns = [
    path("models/", AllowedModelListView.as_view(), name="model-list"),
    path(
        "conversations/<uuid:pk>/messages/", MessageListView.as_view(), name="conversation-messages"
    ),
    path("messages/<uuid:pk>/select/", MessageSelectView.as_view(), name="message-select"),
    *router.urls,
]
