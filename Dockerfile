# Kaiwa: one image for every process of a deployment (app replicas and the migrate job).
# Python 3.12 slim, a non-root user, static files collected at build time and served by
# WhiteNoise (compressed, with hashed names), translations compiled, daphne for HTTP,
# SSE and WebSocket. Configuration comes from the environment at run time (.env.example).
FROM python:3.12-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MEDIA_ROOT=/app/media

WORKDIR /app

# gettext for compilemessages; nothing else is compiled (psycopg ships binary wheels).
RUN apt-get update \
    && apt-get install -y --no-install-recommends gettext \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 --user-group kaiwa

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .

# Build-time only: settings need a key and hosts to load, not a database or any secret
# (production refuses short keys, so a throwaway random one that signs nothing).
# ENVIRONMENT=production selects WhiteNoise's CompressedManifestStaticFilesStorage, so the
# manifest the running app expects is written here. compilemessages must succeed.
RUN SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(64))')" \
        ALLOWED_HOSTS=build.invalid ENVIRONMENT=production \
        LLM_PROVIDER=demo python manage.py collectstatic --noinput \
    && python manage.py compilemessages --ignore=.venv \
    && mkdir -p /app/media/images \
    && chown -R kaiwa:kaiwa /app/media

# A new named volume mounted on /app/media takes this ownership.
VOLUME ["/app/media"]
USER kaiwa
EXPOSE 8000

# Liveness over plain HTTP with a Host header from ALLOWED_HOSTS (deploy/healthcheck.py).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "deploy/healthcheck.py"]

# No --proxy-headers: daphne would believe X-Forwarded-For from any peer. Kaiwa believes it
# only from TRUSTED_PROXIES (config/proxy_headers.py); X-Forwarded-Proto: USE_X_FORWARDED_PROTO.
# Migrations are not run here: several replicas start at once; `manage.py migrate` runs
# once before them (the compose file's `migrate` service).
# daphne sets no HTTP timeout by default, which event streams of long replies need.
CMD ["daphne", "--bind", "0.0.0.0", "--port", "8000", "config.asgi:application"]
