"""How pluggable backends are configured and loaded, like Django's CACHES and STORAGES.

    LLM_BACKEND = {"BACKEND": "assistant.backends.openai.OpenAIBackend", "OPTIONS": {...}}
    SEARCH_BACKEND = {"BACKEND": "assistant.search.searxng.SearxngSearch", "OPTIONS": {...}}

settings.py reads the environment into these plain settings. Each backend class owns the
rest: an `Options` dataclass naming, for every option, the environment variable it comes
from (`option()`); `from_options()`, which turns OPTIONS into those typed options or raises
ImproperlyConfigured naming the variable; and `check()`, its `manage.py check` messages.

`BackendSetting` is the one loader: it imports the dotted path, checks the class, builds it
with `from_options(OPTIONS)` and caches the instance (with any connection pools) until
`reset()`, which runs by itself when a test changes the setting. No message quotes the value
of a secret option.
"""

import dataclasses
import numbers
import threading
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol, Self
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string


def option(variable: str, default: Any, *, secret: bool = False, choices: tuple = ()) -> Any:
    """A field of an `Options` dataclass, read from the environment variable `variable`."""
    return dataclasses.field(
        default=default,
        repr=not secret,  # the options' repr never shows a key
        metadata={"variable": variable, "secret": secret, "choices": choices},
    )


def is_http_url(value: Any) -> bool:
    """An http(s) URL with a host. Not URLValidator: it refuses single-label hosts such as
    docker-compose's "http://ollama"."""
    if not isinstance(value, str) or any(char.isspace() for char in value):
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def as_number(value: Any) -> float | None:
    """`value` as a real number, or None (booleans and text are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Options:
    """Base of a backend's typed options. Fields are `option()`s typed str, float or int;
    URL fields are listed in `URLS` and must be http(s) when set."""

    URLS: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Self:
        """The typed options of an OPTIONS dict; ImproperlyConfigured names the variable."""
        fields = {field.name: field for field in dataclasses.fields(cls)}
        unknown = sorted(set(options) - set(fields))
        if unknown:
            raise ImproperlyConfigured(
                f"unexpected option {unknown[0]!r} (known: {', '.join(fields)})."
            )
        values = {name: _typed(fields[name], value) for name, value in options.items()}
        for name in cls.URLS:
            value = values.get(name)
            if value and not is_http_url(value):
                variable = fields[name].metadata["variable"]
                raise ImproperlyConfigured(f"{variable} is not a valid http(s) URL: {value!r}.")
        return cls(**values)


def _typed(field: dataclasses.Field, value: Any) -> Any:
    variable = field.metadata["variable"]
    shown = "" if field.metadata["secret"] else f", not {value!r}"
    if field.type is str:
        if not isinstance(value, str):
            raise ImproperlyConfigured(f"{variable} (option {field.name}) must be text{shown}.")
        choices = field.metadata["choices"]
        if choices and value not in choices:
            raise ImproperlyConfigured(
                f"{variable} (option {field.name}) must be one of {', '.join(choices)}{shown}."
            )
        return value
    number = as_number(value)
    if field.type is int:
        if number is None or number != int(number) or number < 0:
            raise ImproperlyConfigured(
                f"{variable} (option {field.name}) must be an integer of 0 or more{shown}."
            )
        return int(number)
    if number is None or number < 0:
        raise ImproperlyConfigured(
            f"{variable} (option {field.name}) must be a number of 0 or more{shown}."
        )
    return number


class Configurable(Protocol):
    @classmethod
    def from_options(cls, options: dict[str, Any]) -> Self: ...

    @classmethod
    def check(cls, options: dict[str, Any] | None) -> list[CheckMessage]: ...


_UNSET: Any = object()


class BackendSetting[B: Configurable]:
    """The backend named by settings.<name>; None (no backend) is allowed when `optional`."""

    def __init__(self, name: str, base: type[B], *, chooser: str, optional: bool = False) -> None:
        self.name = name
        self.base = base
        self.chooser = chooser  # the variable that selects the backend, named in messages
        self.optional = optional
        self._cached: tuple[B | None] | None = None
        self._lock = threading.Lock()
        _ALL.append(self)

    def config(self) -> Any:
        return getattr(settings, self.name, None)

    def options(self) -> dict[str, Any]:
        """The setting's OPTIONS ({} when missing or malformed; `build()` reports those)."""
        config = self.config()
        options = config.get("OPTIONS") if isinstance(config, dict) else None
        return options if isinstance(options, dict) else {}

    def backend_class(self, config: Any = _UNSET) -> type[B] | None:
        """The class the setting names; None when unset and optional."""
        if config is _UNSET:
            config = self.config()
        if config is None and self.optional:
            return None
        name = self.name
        if not isinstance(config, dict):
            raise ImproperlyConfigured(
                f"{name} must be a dict with 'BACKEND' (a dotted path) and 'OPTIONS'."
            )
        path = config.get("BACKEND")
        if not path or not isinstance(path, str):
            raise ImproperlyConfigured(f"{name}['BACKEND'] is not set; check {self.chooser}.")
        try:
            backend_class = import_string(path)
        except ImportError as exc:
            raise ImproperlyConfigured(
                f"{name}['BACKEND'] = {path!r} could not be imported: {exc}"
            ) from exc
        if not (isinstance(backend_class, type) and issubclass(backend_class, self.base)):
            raise ImproperlyConfigured(
                f"{name}['BACKEND'] = {path!r} is not a subclass of "
                f"{self.base.__module__}.{self.base.__qualname__}."
            )
        return backend_class

    def build(self, config: Any = _UNSET) -> B | None:
        """A new backend from `config` (default: the setting); ImproperlyConfigured if bad."""
        if config is _UNSET:
            config = self.config()
        backend_class = self.backend_class(config)
        if backend_class is None:
            return None
        options = config.get("OPTIONS") or {}
        if not isinstance(options, dict):
            raise ImproperlyConfigured(f"{self.name}['OPTIONS'] must be a dict.")
        try:
            return backend_class.from_options(options)
        except ImproperlyConfigured as exc:
            path = config["BACKEND"]
            raise ImproperlyConfigured(f"{self.name}['OPTIONS'] do not fit {path}: {exc}") from None

    def get(self) -> B | None:
        """The process-wide backend, built on first use."""
        cached = self._cached
        if cached is None:
            with self._lock:
                if self._cached is None:
                    self._cached = (self.build(),)
                cached = self._cached
        return cached[0]

    def reset(self) -> None:
        """Forget the cached backend; the next get() builds a new one."""
        with self._lock:
            self._cached = None


_ALL: list[BackendSetting] = []


def _reset_on_setting_changed(*, setting: str, **kwargs: object) -> None:
    for backend_setting in _ALL:
        if backend_setting.name == setting:
            backend_setting.reset()


setting_changed.connect(_reset_on_setting_changed, dispatch_uid="kaiwa.backend_config")
