"""The image secret scan, on tar streams built here (no Docker needed)."""

import io
import tarfile

from tasks.lib import scan as _scan

KEY = (
    b"-----BEGIN PRIVATE KEY-----\n"
    + b"MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n" * 3
    + b"-----END PRIVATE KEY-----\n"
)


def tar_of(files: dict[str, bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    buffer.seek(0)
    return buffer


def test_finds_env_files_keys_and_secret_values():
    stream = tar_of(
        {
            "app/.env": b"X=1",
            "app/.env.production": b"X=1",
            "etc/ssl/private/site.key": KEY,
            "app/src/settings.py": b"PASSWORD = 'hunter2-prod-pass'",
        }
    )
    found = _scan.findings_in_tar(stream, [b"hunter2-prod-pass"])
    assert found == [
        "env file in the image: /app/.env",
        "env file in the image: /app/.env.production",
        "private key in the image: /etc/ssl/private/site.key",
        "a secret value from the env file in /app/src/settings.py",
    ]


def test_ignores_the_example_file_and_keys_compiled_into_libraries():
    stream = tar_of(
        {
            "app/.env.example": b"SECRET_KEY=change-me",
            "usr/lib/libgnutls.so": b"\x00-----BEGIN PRIVATE KEY-----\x00\x00",
        }
    )
    assert _scan.findings_in_tar(stream, []) == []


def test_secret_values_skip_short_values_and_take_only_url_passwords():
    values = {
        "SECRET_KEY": "a" * 50,
        "REDIS_PASSWORD": "short",
        "EMAIL_URL": "smtp+tls://mailer:p4ssw0rd-x@smtp.x:587",
        "OTHER": "consolemail://",
    }
    assert _scan.secret_values(values, ["SECRET_KEY", "REDIS_PASSWORD", "EMAIL_URL", "OTHER", "MISSING"]) == [
        b"a" * 50,
        b"p4ssw0rd-x",
    ]
