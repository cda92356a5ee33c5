"""Kaiwa settings: one file, read from the environment (and `.env`).

Development and production differ only by environment variables; API.md section 1 is the
contract for their names and defaults.
"""

import ipaddress
import os
import tempfile
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# https://django-environ.readthedocs.io/en/latest/tips.html#using-env-files
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

ENVIRONMENT = env.str("ENVIRONMENT", default="development")
if ENVIRONMENT not in ("development", "production"):
    raise ImproperlyConfigured(
        f"ENVIRONMENT must be 'development' or 'production', not {ENVIRONMENT!r}."
    )
PRODUCTION = ENVIRONMENT == "production"


def _required_in_production(name: str) -> None:
    if PRODUCTION and not env.str(name, default=""):
        raise ImproperlyConfigured(f"{name} must be set when ENVIRONMENT=production.")


_required_in_production("SECRET_KEY")
_required_in_production("ALLOWED_HOSTS")

DEBUG = env.bool("DEBUG", default=not PRODUCTION)
if PRODUCTION and DEBUG:
    # DEBUG shows settings, source and SQL on every error page: refuse rather than quietly
    # override, so the environment says what actually runs.
    raise ImproperlyConfigured("DEBUG must be false (or unset) when ENVIRONMENT=production.")
SECRET_KEY = env.str(
    "SECRET_KEY", default="django-insecure-kaiwa-development-only-key-do-not-use-in-production"
)
# SECRET_KEY's value in .env.example, which a copied file may still hold.
_PLACEHOLDER_SECRET_KEYS = frozenset({"change-me-to-a-long-random-value"})
_MIN_SECRET_KEY_CHARS = 50  # as Django's own deploy check (security.W009)


def _refuse_weak_secret_key(key: str) -> None:
    """Production signs sessions and tokens with SECRET_KEY: refuse a guessable one.
    The messages never include the key."""
    advice = 'python -c "import secrets; print(secrets.token_urlsafe(64))" makes a good one'
    if key in _PLACEHOLDER_SECRET_KEYS:
        problem = "is the placeholder from .env.example"
    elif key.startswith("django-insecure-"):
        problem = "starts with 'django-insecure-' (a development key)"
    elif len(key) < _MIN_SECRET_KEY_CHARS:
        problem = f"is shorter than {_MIN_SECRET_KEY_CHARS} characters"
    else:
        return
    raise ImproperlyConfigured(
        f"SECRET_KEY {problem}; ENVIRONMENT=production needs a long random value ({advice})."
    )


if PRODUCTION:
    _refuse_weak_secret_key(SECRET_KEY)
# Rotation: the new key goes in SECRET_KEY, the old one in SECRET_KEY_FALLBACKS until the
# sessions and signed values made with it have expired; then remove it.
# https://docs.djangoproject.com/en/6.1/ref/settings/#secret-key-fallbacks
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",  # CORS for the token API (CORS_ALLOWED_ORIGINS below)
    "rest_framework",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI from our own static files, not a CDN
    "channels",
    "health_check",
    "axes",  # login lock-out (accounts: "Who gets in")
    "accounts",
    "conversations",
    "assistant",
    "usage",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before anything that can answer on its own (WhiteNoise, CommonMiddleware's redirects),
    # so preflights and early answers on the CORS routes carry their headers.
    "corsheaders.middleware.CorsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Django 6's Content-Security-Policy (SECURE_CSP below); static files above need none.
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # Before the session middleware: tells open sockets and streams about credential changes
    # once the session is saved or flushed (accounts/revocation.py).
    "accounts.revocation.CredentialsChangedMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out login into our 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                # {{ csp_nonce }} / {% csp_nonce_attr %} (the admin uses it).
                "django.template.context_processors.csp",
            ],
        },
    },
]

ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"

# --- Database -------------------------------------------------------------------------
# https://django-environ.readthedocs.io/en/latest/types.html#environ-env-db-url
DATABASES = {"default": env.db_url("DATABASE_URL", default="sqlite:///db.sqlite3")}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    if _db["NAME"] != ":memory:" and not Path(_db["NAME"]).is_absolute():
        _db["NAME"] = str(BASE_DIR / _db["NAME"])
    # WAL lets readers (page loads, snapshots) run while a turn writes; IMMEDIATE
    # transactions plus a busy timeout turn lock contention into short waits, not errors.
    _db["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # Keep each thread's connection (the request thread, the turn DB threads) instead of
    # opening one per ORM call: opening registers Django's SQL functions and runs the
    # PRAGMAs, about 1 ms of CPU each time, which was a turn's largest database cost.
    _db["CONN_MAX_AGE"] = 300
    _db["CONN_HEALTH_CHECKS"] = True
    # A file, not Django's shared in-memory test database: turn tasks and test servers
    # use other threads and processes, and only a file gives them WAL and the busy timeout.
    # One per test run (pid), so parallel runs on one machine never share it.
    _db["TEST"] = {"NAME": str(Path(tempfile.gettempdir()) / f"kaiwa-test-{os.getpid()}.sqlite3")}
elif _db["ENGINE"] == "django.db.backends.postgresql":
    # psycopg 3's pool: https://docs.djangoproject.com/en/stable/ref/databases/#connection-pool
    _db.setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=1),
        "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=10),
        "timeout": 10,
    }
    _db["CONN_MAX_AGE"] = 0  # the pool manages connection lifetime
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer and cache -----------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    # The pub/sub layer: one PUBLISH per group message, pushed to subscribers, instead of
    # the list-based layer's several round trips per message (measured in bench/). It
    # delivers at most once; a reader that misses an event fills the gap from the reply's
    # event log (assistant.live.follower.ReplyFollower), so nothing is lost.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
        }
    }
else:
    CHANNEL_LAYERS = {
        # Channels' in-memory layer with cheaper expiry scans (assistant/channel_layer.py).
        "default": {
            "BACKEND": "assistant.channel_layer.LocalChannelLayer",
            "CONFIG": {"capacity": 1500},
        }
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Auth -----------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if not PRODUCTION and env.bool("KAIWA_TESTS_FAST_PASSWORD_HASHER", default=False):
    # Test servers only: hashing with PBKDF2's million rounds dominates test setup.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # noqa: S303
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

# --- Who gets in: sign-up, invitations, password reset, login lock-out -------------------
# open: anyone may sign up; invite: only with a staff-made invitation link; closed: no
# sign-up at all. An unknown value is reported by `manage.py check` (accounts.E001).
SIGNUP_MODE = env.str("SIGNUP_MODE", default="closed" if PRODUCTION else "open").strip().lower()
INVITE_TTL_DAYS = env.int("INVITE_TTL_DAYS", default=7)
# Sign-up and password-reset attempts (DRF rate syntax), counted in the cache per client IP,
# and password-reset requests per e-mail address too (assistant.limits.rate_check).
THROTTLE_SIGNUP = env.str("THROTTLE_SIGNUP", default="10/hour")
THROTTLE_PASSWORD_RESET = env.str("THROTTLE_PASSWORD_RESET", default="10/hour")
THROTTLE_PASSWORD_RESET_EMAIL = env.str("THROTTLE_PASSWORD_RESET_EMAIL", default="3/hour")
# django-axes checks every login (site and admin) first; ModelBackend then authenticates.
# https://django-axes.readthedocs.io/en/latest/2_installation.html
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # Refuses every password log-in when SSO_ONLY (the admin's too, unless
    # SSO_ADMIN_PASSWORD_LOGIN): a gate, not a way in (accounts/sso/backends.py).
    "accounts.sso.backends.SsoOnlyPasswordGate",
    "django.contrib.auth.backends.ModelBackend",
]
# Failed logins are kept in the database, so every process and replica shares the count.
# A username, or a client IP, with AXES_FAILURE_LIMIT failures is locked out for
# AXES_COOLOFF_MINUTES. The client IP is REMOTE_ADDR: the peer, or behind one of
# TRUSTED_PROXIES the client it names (config/proxy_headers.py), as for every throttle.
# https://django-axes.readthedocs.io/en/latest/4_configuration.html
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_HTTP_RESPONSE_CODE = 429
AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)
# Failures only: successful logins are not recorded (no growing table of who logged in).
AXES_DISABLE_ACCESS_LOG = True
# --- Single sign-on: OpenID Connect (docs/single-sign-on.md) -------------------------------
# Off while OIDC_ISSUER is empty. The provider's endpoints and keys come from
# OIDC_ISSUER + /.well-known/openid-configuration. `manage.py check` reports a malformed
# issuer, a missing client id or secret and SSO_ONLY without a provider (accounts.E004–E007).
OIDC_ISSUER = env.str("OIDC_ISSUER", default="").strip()
OIDC_CLIENT_ID = env.str("OIDC_CLIENT_ID", default="").strip()
OIDC_CLIENT_SECRET = env.str("OIDC_CLIENT_SECRET", default="")
OIDC_PROVIDER_NAME = env.str("OIDC_PROVIDER_NAME", default="").strip() or "OpenID Connect"
# Space- or comma-separated, as providers write them; `openid` is required.
OIDC_SCOPES = env.str("OIDC_SCOPES", default="openid email profile").replace(",", " ").split()
# Who may sign in: e-mail domains (of `email`, else of `preferred_username`) and, for
# Microsoft Entra ID, tenant ids (the `tid` claim). Empty: no such limit.
OIDC_ALLOWED_DOMAINS = [
    d.strip().lower().removeprefix("@") for d in env.list("OIDC_ALLOWED_DOMAINS", default=[])
]
OIDC_ALLOWED_TENANTS = [t.strip().lower() for t in env.list("OIDC_ALLOWED_TENANTS", default=[])]
# true: the login page offers only single sign-on; password log-in, sign-up and password
# reset are closed. Staff may still log in to /admin/ with a password while
# SSO_ADMIN_PASSWORD_LOGIN is true (a way in when the provider is down).
SSO_ONLY = env.bool("SSO_ONLY", default=False)
SSO_ADMIN_PASSWORD_LOGIN = env.bool("SSO_ADMIN_PASSWORD_LOGIN", default=True)
# Password-reset mail through Django 6.1's MAILERS: sent by SMTP in production, or wherever
# EMAIL_HOST is set (EMAIL_USE_TLS means STARTTLS, usually port 587); otherwise printed on
# the console. https://docs.djangoproject.com/en/6.1/ref/settings/#mailers
if PRODUCTION or env.str("EMAIL_HOST", default=""):
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": env.str("EMAIL_HOST", default="localhost"),
                "port": env.int("EMAIL_PORT", default=587),
                "username": env.str("EMAIL_HOST_USER", default=""),
                "password": env.str("EMAIL_HOST_PASSWORD", default=""),
                "use_tls": env.bool("EMAIL_USE_TLS", default=True),
                "timeout": env.int("EMAIL_TIMEOUT", default=10),
            },
        }
    }
else:
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Kaiwa <noreply@localhost>")
# Password-reset links stay valid this long (Django's default is three days).
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=60 * 60)

# --- i18n: Japanese first, English second ----------------------------------------------
LANGUAGE_CODE = "ja"
LANGUAGES = [("ja", _("Japanese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Tokyo")
USE_I18N = True
USE_TZ = True

# --- Static and media -----------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Generated images live in a storage of their own; they are served only through
    # Kaiwa's owner-only view, never by URL from this storage.
    "images": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT / "images"), "base_url": None},
    },
    "staticfiles": {
        "BACKEND": (
            "config.staticfiles.ManifestStaticFilesStorage"  # WhiteNoise's, ES modules too
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- Request limits ---------------------------------------------------------------------
# Chat bodies are small; anything larger is refused before it is parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_REQUEST_BODY_BYTES", default=256 * 1024)

# --- REST framework -------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "conversations.api.pagination.NewestFirstCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.api_errors.exception_handler",
    # Too deeply nested JSON and lone surrogates are a 400, not a 500 (config.json_input).
    "DEFAULT_PARSER_CLASSES": [
        "config.json_input.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # `?format=` belongs to the export endpoint (md|json), not to renderer selection.
    "URL_FORMAT_OVERRIDE": None,
    # REMOTE_ADDR is already the client (TRUSTED_PROXIES): throttles never read
    # X-Forwarded-For themselves, which any client can send.
    "NUM_PROXIES": 0,
    # Per-user rates of the endpoints that call a model (assistant.limits.SendThrottle).
    # `chat` is one bucket for every send: REST, SSE, WebSocket and /api/assistant/.
    "DEFAULT_THROTTLE_RATES": {
        "chat": env.str("THROTTLE_CHAT", default="30/min"),
        "analyze": env.str("THROTTLE_ANALYZE", default="30/min"),
        "images": env.str("THROTTLE_IMAGES", default="10/min"),
        # Uploads are decoded, scaled and read at once: their own per-user rate.
        "attachments": env.str("THROTTLE_ATTACHMENTS", default="30/min"),
    },
}
# Prompt + completion tokens per user per day (0 = unlimited); staff override it per user.
DAILY_TOKEN_QUOTA = env.int("DAILY_TOKEN_QUOTA", default=500_000)
DAILY_IMAGE_QUOTA = env.int("DAILY_IMAGE_QUOTA", default=50)
# /metrics: with a token, `Authorization: Bearer <METRICS_TOKEN>`; without, loopback only.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
SPECTACULAR_SETTINGS = {
    "TITLE": "Kaiwa API",
    "DESCRIPTION": "Persistent LLM conversations over REST, SSE and WebSocket.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Served from our static files (drf-spectacular-sidecar): the CSP allows no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Two choice fields are named "kind" (the usage ledger's, an attachment's).
    "ENUM_NAME_OVERRIDES": {"AttachmentKindEnum": "conversations.models.Attachment.Kind"},
}
# Personal API tokens: only a SHA-512 digest is stored (django-rest-knox).
# knox's own migrations would create its (swapped-out, unused) AuthToken table anyway.
MIGRATION_MODULES = {"knox": None}
# (bandit/ruff read "TOKEN" names as passwords; these are a model label and token settings.)
KNOX_TOKEN_MODEL = "accounts.ApiToken"  # noqa: S105  # nosec B105
REST_KNOX = {  # nosec B105
    "AUTH_HEADER_PREFIX": "Bearer",
    "TOKEN_TTL": None,  # personal tokens live until revoked
    "TOKEN_PREFIX": "kaiwa_",  # the public prefix of every token
    "AUTO_REFRESH": False,
}

# --- Logging: one JSON object per line ------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
LOG_REQUESTS = env.bool("LOG_REQUESTS", default=True)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # The SDK's own debug logs can include request headers; keep them quiet.
        "openai": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        "axes.apps": {"level": "WARNING"},  # its start-up banner, once per process
    },
}

# --- Kaiwa conversation limits (the rules: conversations/validation.py) ---------------------
KAIWA = {
    "MAX_MESSAGE_CHARS": env.int("MAX_MESSAGE_CHARS", default=32_000),
    "MAX_SYSTEM_PROMPT_CHARS": env.int("MAX_SYSTEM_PROMPT_CHARS", default=8_000),
}
LLM_SYSTEM_PROMPT = env.str(
    "LLM_SYSTEM_PROMPT", default="あなたは親切で有能な日本語のAIアシスタントです。"
)
# The seed guide's names (its LLMSettings fields as environment variables) are read when
# Kaiwa's own variable is unset, and `manage.py check` reports each one set (kaiwa.W002).
# LOG_LEVEL, LOG_REQUESTS and the AZURE_OPENAI_* names are the same in both.
SEED_SETTING_ALIASES = {
    "DEFAULT_TEMPERATURE": "LLM_DEFAULT_TEMPERATURE",
    "DEFAULT_MAX_TOKENS": "LLM_DEFAULT_MAX_TOKENS",
    "REQUEST_TIMEOUT": "LLM_REQUEST_TIMEOUT",
    "MAX_RETRIES": "LLM_MAX_RETRIES",
}
# (seed name, Kaiwa name, whether Kaiwa's is set too) for each seed name set.
SEED_SETTING_ALIASES_SET = [
    (seed, kaiwa, bool(os.environ.get(kaiwa, "").strip()))
    for seed, kaiwa in SEED_SETTING_ALIASES.items()
    if os.environ.get(seed, "").strip()
]
LLM_DEFAULT_TEMPERATURE = env.float(
    "LLM_DEFAULT_TEMPERATURE", default=env.float("DEFAULT_TEMPERATURE", default=0.7)
)
LLM_DEFAULT_MAX_TOKENS = env.int(
    "LLM_DEFAULT_MAX_TOKENS", default=env.int("DEFAULT_MAX_TOKENS", default=2000)
)
LLM_MAX_TOKENS_CAP = env.int("LLM_MAX_TOKENS_CAP", default=16_384)
# History sent with each call is trimmed to this many (locally estimated) tokens.
LLM_CONTEXT_TOKENS = env.int("LLM_CONTEXT_TOKENS", default=12_000)
# History that no longer fits is summarised by the model once (assistant/history_summary.py)
# and the summary sent in its place; false: it is simply left out (the chat says so).
LLM_SUMMARIZE_HISTORY = env.bool("LLM_SUMMARIZE_HISTORY", default=True)
# After a conversation's first reply the model is asked for a short title in the background
# (assistant/auto_title.py); a title the user set is never replaced.
LLM_AUTO_TITLE = env.bool("LLM_AUTO_TITLE", default=True)
# The model of title and summary calls: one of LLM_MODELS (kaiwa.E042); "" = the default.
LLM_TITLE_MODEL = env.str("LLM_TITLE_MODEL", default="").strip()
LLM_MAX_TOOL_ROUNDS = env.int("LLM_MAX_TOOL_ROUNDS", default=5)
# Tool calls executed per model round and per turn; calls past either cap are answered with
# an error result instead of being run (the model still gets a result for each call).
LLM_MAX_TOOL_CALLS_PER_ROUND = env.int("LLM_MAX_TOOL_CALLS_PER_ROUND", default=4)
LLM_MAX_TOOL_CALLS_PER_TURN = env.int("LLM_MAX_TOOL_CALLS_PER_TURN", default=10)
# Threads (and so database connections) per process for turn tasks' ORM calls. SQLite: one.
# It writes one transaction at a time anyway; more threads only wait for its write lock
# (its busy handler sleeps 1, 2, 5, 10 ms...) and take the GIL from the event loop in turn,
# which at a few hundred running replies delayed first tokens by hundreds of ms
# (docs/benchmark.md). PostgreSQL: four, whose round trips overlap.
TURN_DB_THREADS = env.int(
    "TURN_DB_THREADS", default=1 if DATABASES["default"]["ENGINE"].endswith("sqlite3") else 4
)

# --- Streaming ------------------------------------------------------------------------
# Deltas arriving within this window are sent as one event, so a fast model cannot flood
# sockets; the first delta of a reply is never delayed.
STREAM_COALESCE_MS = env.int("STREAM_COALESCE_MS", default=15)
# The partial reply is written to the database at most this often (and once at the end).
STREAM_PERSIST_INTERVAL_SECONDS = env.float("STREAM_PERSIST_INTERVAL_SECONDS", default=1.0)
# A streaming reply whose heartbeat is older than this belonged to a process that died.
STREAM_STALE_AFTER_SECONDS = env.float("STREAM_STALE_AFTER_SECONDS", default=20.0)
# SSE keep-alive comment interval.
SSE_KEEPALIVE_SECONDS = env.float("SSE_KEEPALIVE_SECONDS", default=15.0)

# --- Security headers (hardened further in production) ---------------------------------
# `manage.py check --deploy --fail-level WARNING` is clean with ENVIRONMENT=production and the
# defaults below. https://docs.djangoproject.com/en/6.1/ref/middleware/#module-django.middleware.security
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Cookies only over HTTPS in production; a local try-out over plain http:// can turn them off.
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=PRODUCTION)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=PRODUCTION)
# HSTS: a year in production. includeSubDomains covers hosts *below* this one; preload only
# matters once the apex domain is submitted to the browsers' preload list, so it is opt-in.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=PRODUCTION)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Django redirects http:// to https:// itself unless a TLS-terminating proxy in front already
# does (then SECURE_SSL_REDIRECT=false). Probes stay reachable over plain HTTP either way.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=PRODUCTION)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
# Reverse proxies (IPs or networks, e.g. 10.0.0.5,172.18.0.0/16) whose X-Forwarded-For and
# X-Forwarded-Proto are believed (config/proxy_headers.py); from every other peer they are
# ignored and the client is the peer. Empty: no proxy is trusted.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
for _proxy in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy.strip(), strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"TRUSTED_PROXIES holds {_proxy!r}, which is not an IP address or network."
        ) from None
# Behind a proxy that sets X-Forwarded-Proto (and strips it from clients): trust it for
# request.is_secure(). Never enable this when clients can reach the app directly.
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Deliberate, documented choices silence the deploy warning that asks about them.
SILENCED_SYSTEM_CHECKS = [
    *([] if SECURE_HSTS_PRELOAD else ["security.W021"]),  # preload is opt-in, see above
    *([] if SECURE_SSL_REDIRECT else ["security.W008"]),  # the proxy in front redirects
    *(["security.W004"] if PRODUCTION and not SECURE_HSTS_SECONDS else []),  # HSTS=0 on purpose
]

# --- CORS: pages on other origins calling the token API --------------------------------------
# Comma-separated origins (scheme://host[:port], as browsers send them) whose pages may call
# Kaiwa's API with a personal token. Empty: no cross-origin calls. A malformed entry is
# reported by `manage.py check` (accounts.E003) and the server does not start.
# https://github.com/adamchainz/django-cors-headers#configuration
# One-time messages (the admin shows a new invitation's link once) live in the session, not
# in a signed but readable cookie of their own.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

CORS_ALLOWED_ORIGINS = [
    origin.strip() for origin in env.list("CORS_ALLOWED_ORIGINS", default=[]) if origin.strip()
]
# Only the token-authenticated API and the OpenAI-compatible routes; never the pages, the
# admin, the API docs or the session-only token management (/api/tokens/).
CORS_URLS_REGEX = r"^/(?:api/(?!(?:tokens|docs)(?:/|$))|v1/|openai/)"
# Cookies never cross origins: without Access-Control-Allow-Credentials a browser neither
# sends the session cookie nor reads an answer to a request that carried one, so a session
# (and its CSRF token) cannot be used from another origin. Callers authenticate by token.
CORS_ALLOW_CREDENTIALS = False
CORS_ALLOW_HEADERS = (
    "accept",
    "authorization",
    "content-type",
    "api-key",  # the Azure-shaped route's key header
    "last-event-id",  # resuming an SSE stream
    "x-kaiwa-conversation",
    # What the official `openai` npm package sends from a browser (dangerouslyAllowBrowser):
    # without them its preflight to /v1 is refused.
    "x-stainless-arch",
    "x-stainless-lang",
    "x-stainless-os",
    "x-stainless-package-version",
    "x-stainless-retry-count",
    "x-stainless-runtime",
    "x-stainless-runtime-version",
    "x-stainless-timeout",
)
CORS_EXPOSE_HEADERS = ("Retry-After", "X-Kaiwa-Conversation")

# Content-Security-Policy (Django 6's ContentSecurityPolicyMiddleware). Our pages load
# scripts and styles only from our own static files; CSP.NONCE is filled in only on pages
# that render {% csp_nonce_attr %} (the admin's few inline blocks). 'self' in connect-src
# also covers ws:/wss: to this host (CSP Level 3, as Chromium and Firefox implement it).
# The API docs (/api/docs/) use drf-spectacular-sidecar's files and a same-origin init
# script, so they need no exception. https://docs.djangoproject.com/en/6.1/ref/csp/
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

# --- LLM backends (API.md section 1) ---
# Like CACHES: a dotted path and its OPTIONS, built lazily by assistant.backends.get_backend()
# with the backend's from_options(). Nothing here raises for an LLM misconfiguration: the raw
# values are kept, and each backend's check() (`manage.py check`) names the variable at
# fault; the server refuses to start (docs/backends.md). API keys go into OPTIONS only, never
# a setting of their own (Django's debug page and our logs cleanse "*api_key*" entries).


def _env_number(name: str, default: float, cast: type) -> float | int | str:
    """The variable as a number, or its raw text when malformed (the checks report it)."""
    raw = env.str(name, default="").strip()
    if not raw:
        return default
    try:
        return cast(raw)
    except ValueError:
        return raw


LLM_PROVIDER_SETTING = env.str("LLM_PROVIDER", default="").strip().lower()  # "" = auto
AZURE_OPENAI_ENDPOINT = env.str("AZURE_OPENAI_ENDPOINT", default="").strip()
AZURE_OPENAI_DEPLOYMENT_NAME = env.str("AZURE_OPENAI_DEPLOYMENT_NAME", default="gpt-4")
# A dated classic API version, or "v1" for Azure's v1 endpoint ({endpoint}/openai/v1/).
# https://learn.microsoft.com/azure/ai-foundry/openai/api-version-lifecycle
AZURE_OPENAI_API_VERSION = env.str("AZURE_OPENAI_API_VERSION", default="2025-01-01-preview")
AZURE_OPENAI_IMAGE_ENDPOINT = env.str("AZURE_OPENAI_IMAGE_ENDPOINT", default="").strip()
AZURE_OPENAI_IMAGE_DEPLOYMENT = env.str("AZURE_OPENAI_IMAGE_DEPLOYMENT", default="dall-e-3")
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="").strip()  # "" = the SDK's default
OPENAI_MODEL = env.str("OPENAI_MODEL", default="gpt-4o-mini")
OPENAI_IMAGE_MODEL = env.str("OPENAI_IMAGE_MODEL", default="dall-e-3")
# (REQUEST_TIMEOUT, MAX_RETRIES: the seed guide's names, read when these are unset.)
LLM_REQUEST_TIMEOUT = _env_number(
    "LLM_REQUEST_TIMEOUT", _env_number("REQUEST_TIMEOUT", 30.0, float), float
)
# The SDK's own retries.
LLM_MAX_RETRIES = _env_number("LLM_MAX_RETRIES", _env_number("MAX_RETRIES", 3, int), int)
# Image models take 10 to 60 seconds: image calls have a timeout and retries of their own.
IMAGE_REQUEST_TIMEOUT = _env_number("IMAGE_REQUEST_TIMEOUT", 120.0, float)
IMAGE_MAX_RETRIES = _env_number("IMAGE_MAX_RETRIES", 2, int)
# The SDK's HTTP client: "aiohttp" (the SDK's documented aiohttp transport; less CPU per
# streamed chunk) or "httpx" (the SDK's default httpx2 client).
LLM_HTTP_CLIENT = env.str("LLM_HTTP_CLIENT", default="aiohttp").strip().lower()
DEMO_TOKEN_DELAY = _env_number("DEMO_TOKEN_DELAY", 0.02, float)

if LLM_PROVIDER_SETTING:
    LLM_PROVIDER = LLM_PROVIDER_SETTING
elif AZURE_OPENAI_ENDPOINT:
    LLM_PROVIDER = "azure"
elif env.str("OPENAI_API_KEY", default="") or OPENAI_BASE_URL:
    LLM_PROVIDER = "openai"
else:
    LLM_PROVIDER = "demo"

if LLM_PROVIDER == "azure":
    LLM_BACKEND = {
        "BACKEND": "assistant.backends.azure.AzureOpenAIBackend",
        "OPTIONS": {
            "endpoint": AZURE_OPENAI_ENDPOINT,
            "api_key": env.str("AZURE_OPENAI_API_KEY", default=""),
            "deployment": AZURE_OPENAI_DEPLOYMENT_NAME,
            "api_version": AZURE_OPENAI_API_VERSION,
            "image_endpoint": AZURE_OPENAI_IMAGE_ENDPOINT,
            "image_api_key": env.str("AZURE_OPENAI_IMAGE_API_KEY", default=""),
            "image_deployment": AZURE_OPENAI_IMAGE_DEPLOYMENT,
            "timeout": LLM_REQUEST_TIMEOUT,
            "max_retries": LLM_MAX_RETRIES,
            "image_timeout": IMAGE_REQUEST_TIMEOUT,
            "image_max_retries": IMAGE_MAX_RETRIES,
            "http_client": LLM_HTTP_CLIENT,
        },
    }
elif LLM_PROVIDER == "openai":
    LLM_BACKEND = {
        "BACKEND": "assistant.backends.openai.OpenAIBackend",
        "OPTIONS": {
            "api_key": env.str("OPENAI_API_KEY", default=""),
            "base_url": OPENAI_BASE_URL,
            "model": OPENAI_MODEL,
            "image_model": OPENAI_IMAGE_MODEL,
            "timeout": LLM_REQUEST_TIMEOUT,
            "max_retries": LLM_MAX_RETRIES,
            "image_timeout": IMAGE_REQUEST_TIMEOUT,
            "image_max_retries": IMAGE_MAX_RETRIES,
            "http_client": LLM_HTTP_CLIENT,
        },
    }
elif LLM_PROVIDER == "demo":
    LLM_BACKEND = {
        "BACKEND": "assistant.backends.demo.DemoBackend",
        "OPTIONS": {"token_delay": DEMO_TOKEN_DELAY},
    }
else:  # unknown: reported by the kaiwa.E001 check; get_backend() raises ImproperlyConfigured
    LLM_BACKEND = {"BACKEND": "", "OPTIONS": {}}

# The models people may choose for a conversation: comma-separated `id=Label` entries (a
# bare `id` is its own label; Azure: deployment names), the default first. Unset: only the
# provider's own model (AZURE_OPENAI_DEPLOYMENT_NAME, OPENAI_MODEL, or "demo"). Parsed by
# conversations.allowed_models; a malformed value is reported by the kaiwa.E040 check.
LLM_MODELS = env.str("LLM_MODELS", default="").strip()

# --- Images and web search ---
# Generated images are decoded or downloaded at once (provider URLs expire) into the
# "images" storage above and served only by Kaiwa's owner-only view. The timeout bounds the
# whole download; a body larger than IMAGE_MAX_BYTES is abandoned as soon as it passes it.
IMAGE_DOWNLOAD_TIMEOUT = _env_number("IMAGE_DOWNLOAD_TIMEOUT", 30.0, float)
IMAGE_MAX_BYTES = _env_number("IMAGE_MAX_BYTES", 20 * 1024 * 1024, int)
# The download URL is the provider's choice: only hosts resolving to public addresses are
# fetched (assistant/safe_download.py). True allows loopback and private networks too, for
# an image server on this host or network (and the tests' loopback fake).
IMAGE_DOWNLOAD_ALLOW_PRIVATE = env.bool("IMAGE_DOWNLOAD_ALLOW_PRIVATE", default=False)
# DALL·E 3's sizes: https://platform.openai.com/docs/api-reference/images/create
IMAGE_SIZES = env.list("IMAGE_SIZES", default=["1024x1024", "1792x1024", "1024x1792"])

# --- Attachments ---
# Files people attach to a message (conversations/attachments/): images go to the model as
# image parts, documents as their extracted text. They are kept in the "images" storage.
# An upload larger than ATTACHMENT_MAX_BYTES is refused (413 attachment_too_large); the
# request-body limit (MAX_REQUEST_BODY_BYTES) does not apply to the upload route.
# A malformed or non-positive value is reported by the kaiwa.E050/E051 checks.
ATTACHMENT_MAX_BYTES = _env_number("ATTACHMENT_MAX_BYTES", 20 * 1024 * 1024, int)
# How many attachments one message may carry (400 too_many_attachments).
ATTACHMENT_MAX_PER_MESSAGE = _env_number("ATTACHMENT_MAX_PER_MESSAGE", 10, int)
# The models that can read images: shell-style patterns matched against the turn's model id
# (Azure: the deployment name). A model outside them refuses an image with 422
# vision_unsupported before any model call. The demo backend reads images whatever this says.
LLM_VISION_MODELS = env.list("LLM_VISION_MODELS", default=["gpt-4o*", "gpt-4.1*", "gpt-5*"])

# Web search for the search_web tool, like LLM_BACKEND: SEARCH_PROVIDER picks a backend
# (searxng, tavily or brave); unset, the tool is not offered to the model. An unknown
# provider or a missing URL/key is reported by `manage.py check` (kaiwa.E020+, the backend's
# check()). Keys go into OPTIONS only. SearxNG's JSON API: https://docs.searxng.org/dev/search_api.html
SEARCH_PROVIDER = env.str("SEARCH_PROVIDER", default="").strip().lower()
SEARXNG_URL = env.str("SEARXNG_URL", default="").strip()
TAVILY_BASE_URL = env.str("TAVILY_BASE_URL", default="https://api.tavily.com").strip()
BRAVE_BASE_URL = env.str("BRAVE_BASE_URL", default="https://api.search.brave.com").strip()
SEARCH_TIMEOUT = _env_number("SEARCH_TIMEOUT", 10.0, float)
# A search answer is read as it arrives and abandoned once it passes this many bytes.
SEARCH_MAX_RESPONSE_BYTES = _env_number("SEARCH_MAX_RESPONSE_BYTES", 2 * 1024 * 1024, int)
if SEARCH_PROVIDER == "searxng":
    SEARCH_BACKEND = {
        "BACKEND": "assistant.search.searxng.SearxngSearch",
        "OPTIONS": {"url": SEARXNG_URL, "timeout": SEARCH_TIMEOUT},
    }
elif SEARCH_PROVIDER == "tavily":
    SEARCH_BACKEND = {
        "BACKEND": "assistant.search.tavily.TavilySearch",
        "OPTIONS": {
            "api_key": env.str("TAVILY_API_KEY", default=""),
            "base_url": TAVILY_BASE_URL,
            "timeout": SEARCH_TIMEOUT,
        },
    }
elif SEARCH_PROVIDER == "brave":
    SEARCH_BACKEND = {
        "BACKEND": "assistant.search.brave.BraveSearch",
        "OPTIONS": {
            "api_key": env.str("BRAVE_API_KEY", default=""),
            "base_url": BRAVE_BASE_URL,
            "timeout": SEARCH_TIMEOUT,
        },
    }
else:  # unset: no web search; unknown: reported by the kaiwa.E020 check
    SEARCH_BACKEND = None
