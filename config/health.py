"""/healthz (the process answers) and /readyz (database, cache and channel layer answer)."""

import dataclasses
import uuid

from channels.layers import get_channel_layer
from django.http import JsonResponse
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable
from health_check.views import HealthCheckView


@dataclasses.dataclass
class ChannelLayerCheck(HealthCheck):
    """Send one message to a fresh channel and read it back."""

    async def run(self) -> None:
        layer = get_channel_layer()
        if layer is None:
            raise ServiceUnavailable("No channel layer configured")
        channel = await layer.new_channel()
        probe = uuid.uuid4().hex
        try:
            await layer.send(channel, {"type": "readyz.probe", "probe": probe})
            message = await layer.receive(channel)
        except Exception as exc:  # the layer's own errors vary by backend
            raise ServiceUnavailable("Channel layer unreachable") from exc
        if message.get("probe") != probe:
            raise ServiceUnavailable("Channel layer returned an unexpected message")


def healthz(request):
    return JsonResponse({"status": "ok"})


readyz = HealthCheckView.as_view(
    checks=[
        "health_check.checks.Database",
        "health_check.checks.Cache",
        "config.health.ChannelLayerCheck",
    ]
)
