"""Settings behave per environment; each case runs in a fresh interpreter."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

REQUIRED = ["SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL", "EMAIL_URL"]
SANE_PRODUCTION = {
    "SECRET_KEY": "k8Jz-3nV0q_Xw5mR7tY1uB9cE2dF4gH6iL8oP0sA3zQ5xW7vN9bM1",
    "ALLOWED_HOSTS": "shop.example.com",
    "DATABASE_URL": "postgres://app@db:5432/app",
    "REDIS_URL": "redis://redis:6379/0",
    "EMAIL_URL": "smtp+tls://mailer:secret@smtp.example.com:587",
}


def run_django(settings: str, code: str = "", args: tuple[str, ...] = (), **env: str):
    """Run manage.py (or `code` after django.setup()) with only `env` configured."""
    clean = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": settings,
        "DJANGO_READ_DOT_ENV": "false",
        "PYTHONPATH": str(ROOT / "src"),
        **env,
    }
    if code:
        command = [sys.executable, "-c", f"import django; django.setup(); {code}"]
    else:
        command = [sys.executable, str(ROOT / "src" / "manage.py"), *args]
    return subprocess.run(command, env=clean, capture_output=True, text=True, cwd=ROOT, timeout=120)


def settings_values(settings: str, *expressions: str, **env: str) -> list:
    """What each expression over the settings (`s`) is under `settings`, with only `env` configured."""
    code = f"from django.conf import settings as s; import json; print(json.dumps([{', '.join(expressions)}]))"
    result = run_django(settings, code=code, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_production_refuses_to_start_listing_every_missing_variable():
    result = run_django("config.settings.production", args=("check",))
    assert result.returncode == 78
    assert "Traceback" not in result.stderr
    for name in REQUIRED:
        assert name in result.stderr
    assert ".env.example" in result.stderr


def test_production_names_only_what_is_missing():
    given = {k: v for k, v in SANE_PRODUCTION.items() if k in ("SECRET_KEY", "DATABASE_URL", "EMAIL_URL")}
    result = run_django("config.settings.production", args=("check",), **given)
    assert result.returncode == 78
    missing = re.search(r"variable\(s\): (.*?)\.", result.stderr).group(1)
    assert missing.split(", ") == ["ALLOWED_HOSTS", "REDIS_URL"]


def test_production_rejects_a_non_postgres_database():
    result = run_django(
        "config.settings.production", args=("check",), **{**SANE_PRODUCTION, "DATABASE_URL": "sqlite:////tmp/x.db"}
    )
    assert result.returncode == 78
    assert "must be a postgres:// URL" in result.stderr


def test_check_deploy_reports_nothing_with_sane_production_env():
    result = run_django(
        "config.settings.production", args=("check", "--deploy", "--fail-level", "WARNING"), **SANE_PRODUCTION
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_reads_secrets_from_files(tmp_path):
    secret = tmp_path / "secret_key"
    secret.write_text(SANE_PRODUCTION["SECRET_KEY"] + "-from-file")
    (tmp_path / "db_password").write_text("p@ss/word")
    env = {k: v for k, v in SANE_PRODUCTION.items() if k != "SECRET_KEY"}
    key, password, debug, storage = settings_values(
        "config.settings.production",
        "s.SECRET_KEY",
        "s.DATABASES['default']['PASSWORD']",
        "s.DEBUG",
        "s.STORAGES['staticfiles']['BACKEND']",
        SECRET_KEY_FILE=str(secret),
        DATABASE_PASSWORD_FILE=str(tmp_path / "db_password"),
        **env,
    )
    assert key.endswith("-from-file")
    assert password == "p@ss/word"
    assert debug is False
    assert storage == "whitenoise.storage.CompressedManifestStaticFilesStorage"


def test_redis_password_is_put_into_the_url():
    result = run_django(
        "config.settings.production",
        code="from django.conf import settings as s; print(s.REDIS_URL, s.CELERY_BROKER_URL)",
        **{**SANE_PRODUCTION, "REDIS_PASSWORD": "s3cr/t"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["redis://:s3cr%2Ft@redis:6379/0"] * 2


def test_local_defaults_to_the_embedded_stack():
    debug, engine, name, cache, eager, email = settings_values(
        "config.settings.local",
        "s.DEBUG",
        "s.DATABASES['default']['ENGINE']",
        "str(s.DATABASES['default']['NAME'])",
        "s.CACHES['default']['BACKEND']",
        "s.CELERY_TASK_ALWAYS_EAGER",
        "s.EMAIL_BACKEND",
    )
    assert debug is True
    assert engine == "django.db.backends.sqlite3"
    assert Path(name) == ROOT / "var" / "db.sqlite3"
    assert cache == "django.core.cache.backends.locmem.LocMemCache"
    assert eager is True
    assert email == "django.core.mail.backends.console.EmailBackend"


def test_options_in_the_database_url_are_kept_beside_the_timeouts():
    result = run_django(
        "config.settings.local",
        code="from django.conf import settings as s; o = s.DATABASES['default']['OPTIONS']; "
        "print(o['sslmode'], o['connect_timeout'], o['options'])",
        DATABASE_URL="postgres://u:p@localhost:5432/d?sslmode=require",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["require", "2", "-c", "statement_timeout=5000", "-c", "jit=off"]


def test_local_uses_postgres_and_redis_when_configured():
    result = run_django(
        "config.settings.local",
        code="from django.conf import settings as s; print(s.DATABASES['default']['ENGINE'], "
        "s.CACHES['default']['BACKEND'], s.CELERY_TASK_ALWAYS_EAGER, s.CELERY_BROKER_URL)",
        DATABASE_URL="postgres://u:p@localhost:5432/d",
        REDIS_URL="redis://localhost:6379/1",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "core.postgres",  # Django's, every wait on the server bounded
        "django_redis.cache.RedisCache",
        "False",
        "redis://localhost:6379/1",
    ]


def referenced_variables() -> set[str]:
    """Every variable the settings, compose files and container configs read."""
    names: set[str] = set()
    for path in (ROOT / "src" / "config").rglob("*.py"):
        text = path.read_text()
        names |= set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]+)"', text))
        names |= set(re.findall(r'environ\.get\(\s*"([A-Z][A-Z0-9_]+)"', text))
    build_args: set[str] = set()
    for path in [*(ROOT / "compose").rglob("*.yaml"), *(ROOT / "docker").rglob("*")]:
        if path.is_file():
            text = path.read_text()
            names |= set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]+)", text))  # $${X} is the container's own
            names |= set(re.findall(r'environ\.get\(\s*"([A-Z][A-Z0-9_]+)"', text))
            build_args |= set(re.findall(r"^ARG ([A-Z][A-Z0-9_]+)", text, re.MULTILINE))
    # Build arguments, what ./inv computes (the image tag), what compose sets
    # for the backup scripts (BACKUP_ENV, OFFSITE_SSH_KEY_FILE; PGHOST is libpq's, BASH_REMATCH bash's)
    # and what ./inv passes one command (PITR_BACKUP: db.restore --backup) are not settings, nor is
    # METRICS_DIR (the images' own directory; the script tests point it elsewhere).
    computed = {"DJANGO_SETTINGS_MODULE", "IMAGE_TAG", "BACKUP_ENV", "OFFSITE_SSH_KEY_FILE", "PGHOST", "PITR_BACKUP"}
    computed |= {"BASH_REMATCH", "METRICS_DIR"}
    return names - build_args - computed


def test_env_example_documents_every_variable_with_a_comment():
    lines = (ROOT / ".env.example").read_text().splitlines()
    assignment = re.compile(r"#?\s?([A-Z][A-Z0-9_]+)=")
    documented = {}
    for i, line in enumerate(lines):
        if match := assignment.match(line):
            # A comment may cover a group of related variables written together.
            above = i - 1
            while above >= 0 and assignment.match(lines[above]):
                above -= 1
            documented[match.group(1)] = above >= 0 and lines[above].startswith("#")
    missing = referenced_variables() - documented.keys()
    assert not missing, f"add these to .env.example: {sorted(missing)}"
    uncommented = [name for name, has_comment in documented.items() if not has_comment]
    assert not uncommented, f"give these a comment line in .env.example: {uncommented}"


@pytest.mark.parametrize("path", [".env", "backups/x.dump", "var/db.sqlite3", ".venv/bin/python"])
def test_secrets_and_local_state_are_git_ignored(path):
    result = subprocess.run(["git", "check-ignore", "--no-index", "-q", path], cwd=ROOT)
    assert result.returncode == 0, f"{path} is not ignored by .gitignore"


def test_env_file_values_reach_settings_but_not_the_process_environment(tmp_path):
    env_file = tmp_path / "custom.env"
    env_file.write_text("SECRET_KEY=from-the-env-file-0123456789abcdef\nCATALOG_CACHE_SECONDS=7\n")
    result = run_django(
        "config.settings.local",
        code="import os; from django.conf import settings as s; "
        "print(s.SECRET_KEY, s.CATALOG_CACHE_SECONDS, os.environ.get('SECRET_KEY'))",
        DJANGO_READ_DOT_ENV="true",
        DESIDELIVER_ENV_FILE=str(env_file),
        CATALOG_CACHE_SECONDS="9",
    )
    assert result.returncode == 0, result.stderr
    # The file fills in what the environment lacks; the real environment wins.
    assert result.stdout.split() == ["from-the-env-file-0123456789abcdef", "9", "None"]


def test_the_prod_example_has_every_variable_the_prod_stack_reads():
    text = "".join((ROOT / "compose" / name).read_text() for name in ("base.yaml", "prod/compose.yaml"))
    # ./inv computes these per command (ids, cores, paths, the deployed tag): not settings.
    computed = {
        "HOST_UID",
        "HOST_GID",
        "HOST_CPUS",
        "BACKUP_PATH",
        "IMAGE_TAG",
        "PROXY_UID",
        "PROXY_GID",
        "TLS_PATH",
        "SECRETS_PATH",
    }
    needed = set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]+)", text)) - computed
    example = (ROOT / ".env.prod.example").read_text()
    present = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", example, re.MULTILINE))
    assert not needed - present, f"add these to .env.prod.example: {sorted(needed - present)}"
    assert "DJANGO_DEBUG" not in present  # production forces it off; dev's value never leaks in


def test_prod_web_and_worker_share_a_writable_media_volume_at_the_images_media_root():
    """Order exports: the worker writes MEDIA_ROOT and web serves it, on one volume, not the read-only root.

    A new named volume takes the owner of the image's directory: the app user's.
    """
    import yaml

    dockerfile = (ROOT / "docker" / "django" / "Dockerfile").read_text()
    media_root = re.search(r"\bMEDIA_ROOT=(\S+)", dockerfile).group(1)
    assert re.search(rf"install -d -o app -g app -m 0750 {re.escape(media_root)}$", dockerfile, re.MULTILINE)
    prod = yaml.safe_load((ROOT / "compose" / "prod" / "compose.yaml").read_text())
    for service in ("web", "worker"):
        assert f"media:{media_root}" in prod["services"][service]["volumes"]
    assert "media" in prod["volumes"]


@pytest.mark.parametrize("path", [".env.prod", ".env.prod.example"])
def test_the_prod_env_file_is_ignored_and_its_example_is_not(path):
    result = subprocess.run(["git", "check-ignore", "--no-index", "-q", path], cwd=ROOT)
    assert (result.returncode == 0) == (path == ".env.prod")


def test_a_secret_file_with_a_trailing_newline_gives_the_bare_value(tmp_path):
    secret = tmp_path / "secret_key"
    secret.write_text("the-key-0123\n")  # as an editor saves it
    result = subprocess.run(
        [sys.executable, "-c", "from config.settings import base; print(repr(base.SECRET_KEY))"],
        cwd=ROOT / "src",
        env={**os.environ, "SECRET_KEY_FILE": str(secret), "DJANGO_READ_DOT_ENV": "false", "SECRET_KEY": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "'the-key-0123'", result.stderr


def test_the_public_ci_workflow_is_valid_and_runs_the_same_commands_as_ci_run():
    workflow = ROOT / ".github" / "workflows" / "ci.yml"
    checker = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.github-workflows", str(workflow)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text, local = workflow.read_text(), (ROOT / ".ci" / "run").read_text()
    for command in ("./inv test", "./inv test.e2e", "./inv bench.load --short --rows 0"):
        assert command in text
        assert command in local


def test_every_action_the_public_workflow_runs_is_pinned_to_a_commit():
    """A tag can be moved to other code by whoever controls the action's repository; a commit cannot."""
    uses = re.findall(r"uses:\s*(\S+)(.*)", (ROOT / ".github" / "workflows" / "ci.yml").read_text())
    assert uses
    for action, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), f"{action}: pin it to a full commit SHA"
        assert re.fullmatch(r"\s*# v\d+\.\d+\.\d+", comment), f"{action}: say which release the commit is"
