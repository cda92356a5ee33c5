from django.apps import AppConfig


class KeepFinishedConfig(AppConfig):
    name = "bench.experiments.keep_finished_app"
    label = "bench_keep_finished"

    def ready(self) -> None:
        from assistant import consumers, live

        async def _forward(self, event):
            # The follower of an ended reply stays: a late or replayed event for that reply
            # is then dropped by it, instead of making a new follower that replays the log.
            await self._send_json(consumers.ws_event(event))

        original_feed = live.ReplyFollower.feed

        async def feed(self, event):
            if self.finished:
                return []
            return await original_feed(self, event)

        consumers.ConversationConsumer._forward = _forward
        live.ReplyFollower.feed = feed
