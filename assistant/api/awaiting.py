"""DRF views that answer once something asynchronous has ended (a turn), without holding a
thread while they wait.

The view's handler runs as any DRF handler, in a thread: authentication, throttling,
validation, starting the turn. Instead of waiting there, it returns an `Awaited`: what to
wait for, and how to answer with its result. The view, an async Django view around the DRF
one, then waits on the event loop, builds the answer in a thread, and lets DRF render it
or turn an error into its `{"detail", "code"}` response, as for any handler.
"""

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from rest_framework.response import Response
from rest_framework.views import APIView


@dataclass(frozen=True, slots=True)
class Awaited:
    wait: Callable[[], Awaitable[Any]]  # run on the event loop
    answer: Callable[[Any], Response]  # given what `wait` returned; run in a thread


class AwaitingAPIView(APIView):
    """An APIView whose handlers may return an `Awaited` instead of a response."""

    @classmethod
    def as_view(cls, **initkwargs):
        drf_view = super().as_view(**initkwargs)

        async def view(request, *args, **kwargs):
            response = await sync_to_async(drf_view)(request, *args, **kwargs)
            awaited = getattr(response, "data", None)
            if not isinstance(awaited, Awaited):
                return response
            handler = response.renderer_context["view"]
            try:
                answer = await sync_to_async(awaited.answer)(await awaited.wait())
            except Exception as exc:
                answer = await sync_to_async(handler.handle_exception)(exc)
            return handler.finalize_response(handler.request, answer)

        functools.update_wrapper(view, drf_view, updated=())
        # What DRF's view carries: the class and arguments (the schema generator reads them)
        # and its exemption from Django's CSRF check (DRF checks session requests itself).
        view.cls, view.initkwargs, view.csrf_exempt = cls, initkwargs, True
        del view.__wrapped__  # the view is async; not the DRF one it wraps
        return view
