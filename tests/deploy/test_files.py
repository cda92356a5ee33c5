"""The deployment files say what they must: every variable documented, the stack complete."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
API_MD = ROOT / "docs" / "api.md"

_READ = re.compile(r'(?:env\.(?:str|int|bool|list|float|db_url)|_env_number)\(\s*"([A-Z0-9_]+)"')


def settings_variables() -> set[str]:
    return set(_READ.findall((ROOT / "config" / "settings.py").read_text()))


def documented_variables() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))


def test_env_example_documents_every_variable_settings_reads():
    read = settings_variables()
    assert {"SECRET_KEY", "DATABASE_URL", "OPENAI_API_KEY", "SECURE_SSL_REDIRECT"} <= read
    assert read - documented_variables() == set()


def test_env_example_documents_every_variable_of_the_api_contract():
    section = API_MD.read_text().split("## 1.", 1)[1].split("\n## ", 1)[0]
    # The first column of the table: `NAME` or `NAME`, `NAME`, ...
    names = [row.split("|")[1] for row in section.splitlines() if row.startswith("| `")]
    contract = set(re.findall(r"`([A-Z][A-Z0-9_]{2,})`", " ".join(names)))
    assert {"ENVIRONMENT", "LLM_PROVIDER", "AZURE_OPENAI_API_KEY"} <= contract
    assert contract - documented_variables() == set()


def test_env_example_holds_no_real_secret():
    text = (ROOT / ".env.example").read_text()
    assert re.search(r"^OPENAI_API_KEY=\S", text, flags=re.MULTILINE) is None
    assert "SECRET_KEY=change-me" in text


def test_compose_runs_postgres_redis_a_migration_two_replicas_and_a_proxy():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["db"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    for replica in ("app1", "app2"):
        app = services[replica]
        assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert app["environment"]["ENVIRONMENT"] == "production"
        assert app["environment"]["REDIS_URL"].startswith("redis://redis:")
        assert app["environment"]["DATABASE_URL"].startswith("postgres://")
        assert "media:/app/media" in app["volumes"]
    proxy = services["proxy"]
    assert "./deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro" in proxy["volumes"]
    assert {"app1", "app2"} <= set(proxy["depends_on"])
    assert {"pgdata", "media"} <= set(compose["volumes"])


def test_dockerfile_is_slim_non_root_and_serves_with_daphne_without_proxy_headers():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "FROM python:3.12-slim" in dockerfile
    assert "\nUSER kaiwa\n" in dockerfile
    assert "collectstatic --noinput" in dockerfile and "compilemessages" in dockerfile
    command = dockerfile.split("\nCMD ", 1)[1]
    assert command.startswith('["daphne", ')
    # daphne's --proxy-headers believes X-Forwarded-For from anyone; TRUSTED_PROXIES decides.
    assert "proxy-headers" not in command and "migrate" not in command
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".venv", ".git", "db.sqlite3*"} <= set(ignored)


def test_nginx_passes_websockets_streams_and_overwrites_forwarded_for():
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "proxy_set_header Upgrade $http_upgrade;" in conf
    assert "proxy_buffering off;" in conf
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in conf
    assert "proxy_add_x_forwarded_for" not in conf
    assert "server app1:8000" in conf and "server app2:8000" in conf


def test_the_production_collectstatic_of_the_image_build_succeeds(tmp_path):
    """What the Dockerfile runs: the manifest storage fails on a missing url() or import,
    and the hashed ES modules import each other by their hashed names."""
    import json
    import os
    import secrets
    import subprocess
    import sys

    code = (
        "import django; django.setup(); from django.conf import settings; "
        f"settings.STATIC_ROOT = {str(tmp_path)!r}; "
        "from django.core.management import call_command; "
        "call_command('collectstatic', interactive=False, verbosity=0)"
    )
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": secrets.token_urlsafe(64),  # as the Dockerfile's build step
        "ALLOWED_HOSTS": "build.invalid",
        "ENVIRONMENT": "production",
        "LLM_PROVIDER": "demo",
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    manifest = json.loads((tmp_path / "staticfiles.json").read_text())["paths"]
    chat = (tmp_path / manifest["kaiwa/js/chat.js"]).read_text()
    imports = re.findall(r"""^import .* from ["'](\./[^"']+)["'];""", chat, flags=re.MULTILINE)
    assert imports, "chat.js imports its modules"
    assert all(re.search(r"\.[0-9a-f]{12}\.js$", path) for path in imports), imports
    assert "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in manifest
