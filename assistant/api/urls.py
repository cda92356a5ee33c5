from django.urls import path

from assistant.api import streams, views

urlpatterns = [
    path("chat/", views.ChatView.as_view(), name="chat"),
    path("chat/stream/", streams.ChatStreamView.as_view(), name="chat-stream"),
    path(
        "conversations/<uuid:pk>/messages/",
        views.ConversationMessagesView.as_view(),
        name="conversation-messages",
    ),
    path(
        "conversations/<uuid:pk>/messages/stream/",
        streams.MessageStreamView.as_view(),
        name="conversation-messages-stream",
    ),
    path("conversations/<uuid:pk>/stop/", views.StopView.as_view(), name="conversation-stop"),
    path("messages/<uuid:pk>/stream/", streams.ReplyStreamView.as_view(), name="reply-stream"),
    path("messages/<uuid:pk>/edit/", views.EditView.as_view(), name="message-edit"),
    path(
        "messages/<uuid:pk>/edit/stream/",
        streams.EditStreamView.as_view(),
        name="message-edit-stream",
    ),
    path(
        "messages/<uuid:pk>/regenerate/", views.RegenerateView.as_view(), name="message-regenerate"
    ),
    path(
        "messages/<uuid:pk>/regenerate/stream/",
        streams.RegenerateStreamView.as_view(),
        name="message-regenerate-stream",
    ),
]
