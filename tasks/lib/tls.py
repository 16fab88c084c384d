"""The prod proxy's certificate: where it lives, a self-signed one for a first try, and what it serves.

nginx reads `fullchain.pem` and `privkey.pem` from TLS_DIR (default `certs/`,
git- and docker-ignored), mounted read-only. With none there, `prod.deploy`
makes a self-signed pair for the first ALLOWED_HOSTS name and says so; a real
certificate (an ACME client, or one from a CA) replaces the two files, then
`prod.reload-tls` loads it without dropping a connection.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import ssl
from pathlib import Path

from invoke.exceptions import Exit

from . import run
from .run import say
from .stack import NGINX_ID, app_module, setting, tls_dir

CERTIFICATE, KEY = "fullchain.pem", "privkey.pem"


def ensure_certificate() -> None:
    """A certificate and key nginx can read, self-signed for the first allowed host when none is configured."""
    directory = tls_dir()
    certificate, key = directory / CERTIFICATE, directory / KEY
    if certificate.exists() != key.exists():
        raise Exit(f"✗ {directory} has only one of {CERTIFICATE} and {KEY}; put both there (or neither).", code=2)
    if not certificate.exists():
        host = app_module("healthcheck").probe_host(setting("prod", "ALLOWED_HOSTS"))
        make_self_signed(directory, host)
        say(
            f"  No certificate in {directory}: made a self-signed one for {host} (valid 90 days). Browsers "
            "will warn; docs/security.md says how to plug in a real one."
        )
    if os.getuid() == 0:
        # The proxy runs as nginx's user then: it must be able to read the key, and only it.
        for path in (certificate, key):
            os.chown(path, NGINX_ID, NGINX_ID)


def make_self_signed(directory: Path, host: str) -> None:
    if shutil.which("openssl") is None:
        raise Exit("✗ openssl is needed to make a self-signed certificate; install it (apt install openssl).", 1)
    directory.mkdir(parents=True, exist_ok=True)
    names = ",".join(dict.fromkeys([f"DNS:{host}", "DNS:localhost", "IP:127.0.0.1"]))
    old = os.umask(0o077)
    try:
        run.run(
            run.shell(
                "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-days", "90", "-subj", f"/CN={host}", "-addext", f"subjectAltName={names}",
                "-keyout", directory / KEY, "-out", directory / CERTIFICATE,
            ),
            step="make a self-signed certificate",
            capture=True,
        )  # fmt: skip
    finally:
        os.umask(old)
    (directory / CERTIFICATE).chmod(0o644)


def client_context() -> ssl.SSLContext:
    """For ./inv's own probes on loopback (smoke test, rollout): encrypted, the certificate checked by prod.check."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def served_fingerprint(port: int, version: ssl.TLSVersion | None = None) -> str:
    """SHA-256 of the certificate the proxy serves on `port`, optionally forcing one TLS version."""
    context = client_context()
    if version is not None:
        context.minimum_version = context.maximum_version = version
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, context.wrap_socket(raw) as tls:
        return hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()


def configured_fingerprint() -> str:
    der = ssl.PEM_cert_to_DER_cert((tls_dir() / CERTIFICATE).read_text())
    return hashlib.sha256(der).hexdigest()
