"""Lint and validation plans: lint.run runs the linters, prod.check adds the compose checks."""

from __future__ import annotations

from .run import Step, shell
from .stack import ROOT, Stack, python, tool

DOCKERFILES = ("docker/django/Dockerfile", "docker/nginx/Dockerfile", "docker/backup/Dockerfile")
SCRIPTS = ("docker/backup/backup-once.sh", "docker/backup/backup-prune.sh", "docker/backup/backup-loop.sh")
CHECK_DIR = ROOT / "var" / "check"


def plan_lint(fix: bool) -> list[Step]:
    py = python()
    return [
        Step("ruff check", f"{py} -m ruff check {'--fix ' if fix else ''}."),
        Step("ruff format", f"{py} -m ruff format {'' if fix else '--check '}."),
        hadolint_step(),
        Step("bash -n every backup script", " && ".join(f"bash -n {s}" for s in SCRIPTS)),
    ]


def hadolint_step() -> Step:
    return Step("hadolint every Dockerfile", f"{tool('hadolint')} {' '.join(DOCKERFILES)}")


def plan_validate(s: Stack, tag: str) -> list[Step]:
    """compose config -q, then the merged model against the compose spec (written 0600: it holds secrets)."""
    merged = CHECK_DIR / f"{s.env}-config.json"
    return [
        Step(f"compose config -q ({s.env})", s.compose("config", "-q"), env={"IMAGE_TAG": tag}),
        Step(
            f"validate the merged {s.env} config against the compose spec",
            f"mkdir -p {shell(CHECK_DIR)} && (umask 077 && {s.compose('config', '--format', 'json')} > {shell(merged)})"
            f" && {tool('check-jsonschema')} --builtin-schema vendor.compose-spec {shell(merged)}; "
            f"status=$?; rm -f {shell(merged)}; exit $status",
            env={"IMAGE_TAG": tag},
        ),
    ]
