"""Lint and validation plans: lint.run runs the linters, prod.check adds the compose checks."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

from invoke.exceptions import Exit

from . import scan, tls
from .db import database
from .run import Step, run, say, shell
from .stack import ROOT, SECRET_NAMES, Stack, env_example, env_file, env_values, python, secret, stack, tool

# The images', and the end-to-end tests' own (tests/e2e/offsite: the off-host SFTP server).
IMAGE_DIRS = (*ROOT.glob("docker/*/"), *ROOT.glob("tests/e2e/*/"))
DOCKERFILES = tuple(sorted(str(p.relative_to(ROOT)) for d in IMAGE_DIRS for p in d.glob("Dockerfile")))
SCRIPTS = tuple(sorted(str(p.relative_to(ROOT)) for d in IMAGE_DIRS for p in d.glob("*.sh")))
CHECK_DIR = ROOT / "var" / "check"
SECRETS = ("SECRET_KEY", "POSTGRES_PASSWORD", "APP_DB_PASSWORD", "REDIS_PASSWORD", "FLOWER_PASSWORD", "EMAIL_URL")
IMAGES = ("desideliver-django", "desideliver-proxy", "desideliver-backup")


def plan_lint(fix: bool) -> list[Step]:
    py = python()
    return [
        Step("ruff check", f"{py} -m ruff check {'--fix ' if fix else ''}."),
        Step("ruff format", f"{py} -m ruff format {'' if fix else '--check '}."),
        hadolint_step(),
        Step("bash -n every image's script", " && ".join(f"bash -n {s}" for s in SCRIPTS)),
    ]


def hadolint_step() -> Step:
    return Step("hadolint every Dockerfile", f"{tool('hadolint')} {' '.join(DOCKERFILES)}")


def plan_validate(s: Stack, tag: str, env_file: Path | None = None) -> list[Step]:
    """compose config -q, then the merged model against the compose spec, piped: never on disk (it holds secrets)."""
    config = s.compose("config", "--format", "json", env_file=env_file)
    return [
        Step(f"compose config -q ({s.env})", s.compose("config", "-q", env_file=env_file), env={"IMAGE_TAG": tag}),
        Step(
            f"validate the merged {s.env} config against the compose spec",
            f"{config} | {tool('check-jsonschema')} --builtin-schema vendor.compose-spec -",
            env={"IMAGE_TAG": tag},
        ),
    ]


def plan_check(tag: str) -> list[Step]:
    """What prod.check runs after Django's own check --deploy in the image."""
    lint_input = CHECK_DIR / "prod-config.yaml"
    prod = stack("prod")
    return [
        hadolint_step(),
        # The dev stack as the committed example configures it (a prod host has no .env).
        *plan_validate(stack("dev"), tag, env_example("dev")),
        *plan_validate(prod, tag),
        # Not interpolated, so the linter sees ${VAR} references where secrets go.
        Step(
            "compose-lint the merged prod config",
            f"mkdir -p {shell(CHECK_DIR)} && {prod.compose('config', '--no-interpolate')} > {shell(lint_input)}"
            f" && {tool('compose-lint')} check --no-env --fail-on medium --strict-config "
            f"--config compose/prod/compose-lint.yml {shell(lint_input)}",
        ),
        Step(
            "scan the prod images for env files, private keys and secret values",
            " ".join(f"docker export/history {image}:{tag}" for image in IMAGES),
            action=lambda: scan_images(tag),
        ),
    ]


def prod_secrets() -> list[bytes]:
    """Prod's secret values worth searching for: its secret files, and any secret still in an env file."""
    files = {name: secret(name) for name in SECRET_NAMES}
    values = {**env_values(env_file("prod")), **{name: value for name, value in files.items() if value}}
    return scan.secret_values(values, SECRETS)


def masked(text: str) -> str:
    """`text` with every prod secret value replaced, for output a person may paste elsewhere."""
    for value in prod_secrets():
        text = text.replace(value.decode(), "********")
    return text


def scan_images(tag: str) -> None:
    secrets = prod_secrets()
    found = [f"{image}:{tag}: {f}" for image in IMAGES for f in scan.scan_image(f"{image}:{tag}", secrets)]
    if found:
        raise Exit("✗ secrets found in the images:\n  " + "\n  ".join(found), code=1)
    say(f"✓ no env files, private keys or secret values in {', '.join(f'{i}:{tag}' for i in IMAGES)}")


def check_tls(port: int) -> None:
    """The proxy serves the configured certificate over TLS 1.2 and 1.3 and refuses TLS 1.0 and 1.1."""
    configured = tls.configured_fingerprint()
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        served = tls.served_fingerprint(port, version)
        if served != configured:
            raise Exit(f"✗ port {port} serves another certificate over {version.name} than {tls.tls_dir()} holds.", 1)
    for flag in ("-tls1", "-tls1_1"):
        # SECLEVEL=0: our client offers the old version, so a refusal is the server's.
        handshake = run(
            f"openssl s_client -connect 127.0.0.1:{port} {flag} -cipher DEFAULT:@SECLEVEL=0 </dev/null",
            step=f"openssl s_client {flag}",
            capture=True,
            check=False,
            timeout=15,
        )
        said = handshake.stdout + handshake.stderr
        if "no protocols available" in said:
            raise Exit(f"✗ this host's openssl cannot offer {flag}; the check proves nothing here.", 1)
        if handshake.returncode == 0 and "Cipher is (NONE)" not in said:
            raise Exit(f"✗ port {port} accepted a {flag} handshake; only TLS 1.2 and 1.3 may be.", 1)
    say(f"✓ port {port}: the configured certificate over TLS 1.2 and 1.3; TLS 1.0 and 1.1 refused")


def check_inspect_shows_no_secret(s: Stack) -> None:
    """No container of the stack carries a secret in its configuration (environment, command, labels)."""
    containers = run(s.compose("ps", "--all", "-q"), step="list containers", capture=True).stdout.split()
    secrets = prod_secrets()
    # One docker inspect for them all; each container's configuration searched for each value.
    inspected = json.loads(run(shell("docker", "inspect", *containers), step="inspect", capture=True).stdout)
    texts = {each["Id"][:12]: json.dumps(each, ensure_ascii=False).encode() for each in inspected}
    leaking = [container for container, text in texts.items() if any(secret in text for secret in secrets)]
    if leaking:
        raise Exit(f"✗ docker inspect shows a secret value of {s.env_file.name} for: {', '.join(leaking)}", 1)
    say(f"✓ docker inspect of {len(containers)} containers shows none of the {len(secrets)} secret values")


def check_app_role(s: Stack) -> None:
    role = database.app_user(s)
    flags = database.query(s, f"SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = {database.literal(role)}")  # noqa: S608
    if flags != "f":
        raise Exit(f"✗ the app's database role {role} is a superuser (or missing: {flags!r}).", 1)
    say(f"✓ the app connects as {role}, which is no superuser")


def plan_live_checks(s: Stack) -> list[Step]:
    """What only the running prod stack shows: TLS, secrets in its containers' configuration, the app's role."""
    port = int(s.setting("HTTPS_PORT", "443"))
    return [
        Step(
            "TLS: the configured certificate, TLS 1.2/1.3 only",
            f"compare 127.0.0.1:{port}'s certificate with TLS_DIR; openssl s_client -tls1 / -tls1_1 must fail",
            action=lambda: check_tls(port),
        ),
        Step(
            "no secret in docker inspect of any container",
            "docker inspect every container; search for each secret value of the env file",
            action=lambda: check_inspect_shows_no_secret(s),
        ),
        Step(
            "the app's database role is no superuser",
            "SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = APP_DB_USER",
            action=lambda: check_app_role(s),
        ),
    ]
