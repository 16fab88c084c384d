"""Scan a built image for secrets: env files, private keys, known secret values.

Reads the image's filesystem (`docker export` of a created, never started
container) and its build history. Used by `./inv prod.check`.
"""

from __future__ import annotations

import re
import subprocess
import tarfile
from collections.abc import Iterable
from urllib.parse import urlsplit

from invoke.exceptions import Exit

from .run import output, run, shell

# A header followed by a base64 body: libraries carry the bare header as a constant.
PRIVATE_KEY = re.compile(rb"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----\r?\n[A-Za-z0-9+/=\r\n]{64}")
ENV_FILE = re.compile(r"(^|/)\.env(\.[\w.-]+)?$")
# Files bigger than this are binaries or data; secrets do not hide there.
MAX_READ = 4 * 1024 * 1024


def secret_values(values: dict[str, str], names: Iterable[str]) -> list[bytes]:
    """The env file's secret values worth searching for (long enough not to match by chance).

    A URL-valued variable (EMAIL_URL) contributes only its password.
    """
    found = []
    for name in names:
        value = values.get(name, "")
        if "://" in value:
            value = urlsplit(value).password or ""
        if len(value) >= 8:
            found.append(value.encode())
    return found


def findings_in_tar(stream, secrets: list[bytes]) -> list[str]:
    found = []
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            name = member.name.lstrip("./")
            if ENV_FILE.search(name) and not name.endswith(".env.example"):
                found.append(f"env file in the image: /{name}")
            if not member.isfile() or member.size > MAX_READ:
                continue
            content = tar.extractfile(member).read()
            # Compiled libraries embed vendor self-test keys (GnuTLS does); a
            # leaked key of ours is a PEM file, never part of an ELF binary.
            if not content.startswith(b"\x7fELF") and PRIVATE_KEY.search(content):
                found.append(f"private key in the image: /{name}")
            found += [f"a secret value from the env file in /{name}" for s in secrets if s in content]
    return found


def scan_image(image: str, secrets: list[bytes]) -> list[str]:
    """Everything suspicious in `image`'s filesystem and history; [] when clean."""
    history = output(
        shell("docker", "history", "--no-trunc", "--format", "{{.CreatedBy}}", image), step="image history"
    )
    found = [f"a secret value from the env file in {image}'s build history" for s in secrets if s in history.encode()]
    container = output(shell("docker", "create", image), step=f"create a container of {image} to read its files")
    try:
        # Streamed, not captured: an image's filesystem is hundreds of megabytes.
        with subprocess.Popen(["docker", "export", container], stdout=subprocess.PIPE) as export:
            found += findings_in_tar(export.stdout, secrets)
        if export.returncode != 0:
            raise Exit(f"✗ docker export of {image} failed with exit code {export.returncode}", code=1)
    finally:
        run(shell("docker", "rm", "-f", container), step="remove the scan container", capture=True, check=False)
    return found
