"""WebSocket routes; the consumers live in the apps that own them."""

websocket_urlpatterns: list = []
