from django.urls import path
from rest_framework.routers import SimpleRouter

from conversations.api.attachment_views import (
    AttachmentDetailView,
    AttachmentFileView,
    AttachmentUploadView,
)
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
    path(
        "conversations/<uuid:pk>/attachments/",
        AttachmentUploadView.as_view(),
        name="conversation-attachments",
    ),
    path("attachments/<uuid:pk>/", AttachmentDetailView.as_view(), name="attachment-detail"),
    path("attachments/<uuid:pk>/file/", AttachmentFileView.as_view(), name="attachment-file"),
    *router.urls,
]
