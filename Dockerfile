# Kaiwa: Python 3.12 slim, non-root, static files served by WhiteNoise, daphne for HTTP + WebSocket.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

RUN apt-get update && apt-get install -y --no-install-recommends gettext \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 kaiwa

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY --chown=kaiwa:kaiwa . .
# collectstatic needs settings but no secrets or database.
RUN SECRET_KEY=build-only ALLOWED_HOSTS=build ENVIRONMENT=production \
    python manage.py collectstatic --noinput \
    && python manage.py compilemessages --ignore=.venv || true

USER kaiwa
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["sh", "-c", "python manage.py migrate --noinput && daphne -b 0.0.0.0 -p 8000 --proxy-headers config.asgi:application"]
