import pytest

pytestmark = pytest.mark.django_db


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_checks_database_cache_and_channel_layer(client):
    response = client.get("/readyz", HTTP_ACCEPT="application/json")
    assert response.status_code == 200, response.content
    body = response.json()
    text = str(body)
    for check in ("Database", "Cache", "ChannelLayerCheck"):
        assert check in text


def test_readyz_fails_when_the_channel_layer_is_broken(client, settings):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},
        }
    }
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    try:
        response = client.get("/readyz", HTTP_ACCEPT="application/json")
    finally:
        channel_layers.backends.clear()
    assert response.status_code == 500


def test_openapi_schema_and_docs(api_client, client):
    schema = api_client.get("/api/schema/")
    assert schema.status_code == 200
    text = schema.content.decode()
    for path in ("/api/conversations/", "/api/notes/", "/api/tokens/"):
        assert path in text
    assert client.get("/api/docs/").status_code == 200
