"""WebSocket routes; the consumers live in the apps that own them."""

from django.urls import path

from assistant.consumers import ConversationConsumer
from assistant.user_events import UserEventsConsumer

websocket_urlpatterns = [
    path("ws/conversations/<uuid:conversation_id>/", ConversationConsumer.as_asgi()),
    path("ws/events/", UserEventsConsumer.as_asgi()),
]
