"""src/flower_exporter.py: Flower's broker, from REDIS_URL and the password file, and nothing else."""

import os
import subprocess
import sys
import time

import pytest

from tests.helpers import ROOT, free_port, http_status


def exporter(monkeypatch, **env: str):
    for name in ("REDIS_URL", "REDIS_PASSWORD_FILE", "FLOWER_PASSWORD_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    import flower_exporter

    return flower_exporter


def broker(monkeypatch, **env: str) -> str:
    return exporter(monkeypatch, **env).broker_url()


def test_the_password_file_is_read_and_quoted_into_the_broker_url(tmp_path, monkeypatch):
    secret = tmp_path / "redis_password"
    secret.write_text("p@ss/w:rd\n")
    url = broker(monkeypatch, REDIS_URL="redis://redis:6379/0", REDIS_PASSWORD_FILE=str(secret))
    assert url == "redis://:p%40ss%2Fw%3Ard@redis:6379/0"


def test_a_missing_setting_or_password_file_is_named(tmp_path, monkeypatch):
    with pytest.raises(SystemExit, match="REDIS_URL is not set"):
        broker(monkeypatch)
    with pytest.raises(SystemExit, match=f"cannot read REDIS_PASSWORD_FILE {tmp_path}/absent: No such file"):
        broker(monkeypatch, REDIS_URL="redis://redis:6379/0", REDIS_PASSWORD_FILE=str(tmp_path / "absent"))


def test_the_ui_login_is_the_password_file_and_an_unfit_password_is_refused(tmp_path, monkeypatch):
    secret = tmp_path / "flower_password"
    secret.write_text("s3cret-Pass\n")
    assert exporter(monkeypatch, FLOWER_PASSWORD_FILE=str(secret)).ui_login() == ["--basic_auth=operator:s3cret-Pass"]
    assert exporter(monkeypatch).ui_login() == []
    for unfit in ("\n", "a,b\n"):
        secret.write_text(unfit)
        with pytest.raises(SystemExit, match="FLOWER_PASSWORD_FILE holds an empty password or a comma"):
            exporter(monkeypatch, FLOWER_PASSWORD_FILE=str(secret)).ui_login()


def test_it_starts_flower_without_the_images_django_settings_and_only_its_ui_asks_for_a_login(tmp_path):
    password = tmp_path / "flower_password"
    password.write_text("s3cret-Pass\n")
    # The image sets DJANGO_SETTINGS_MODULE; production's settings would refuse to load without the app's secrets.
    env = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "config.settings.production",
           "REDIS_URL": "redis://127.0.0.1:1/0", "PYTHONDONTWRITEBYTECODE": "1",
           "FLOWER_PASSWORD_FILE": str(password)}  # fmt: skip
    port = free_port()
    flower = subprocess.Popen([sys.executable, "-m", "flower_exporter", str(port)], cwd=ROOT / "src", env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        line, deadline = "", time.monotonic() + 30
        while "Visit me at" not in line:
            line = flower.stdout.readline()
            assert line, "Flower ended before it served"
            assert "missing required environment variable" not in line
            assert time.monotonic() < deadline
        assert f"http://0.0.0.0:{port}" in line
        # Prometheus and the health check need no login; the UI's pages and API do.
        ui = f"http://127.0.0.1:{port}"
        assert (http_status(f"{ui}/metrics"), http_status(f"{ui}/healthcheck")) == (200, 200)
        assert http_status(f"{ui}/tasks") == 401
        assert http_status(f"{ui}/tasks", login="operator:wrong") == 401
        assert http_status(f"{ui}/tasks", login="operator:s3cret-Pass") == 200
    finally:
        # Killed: the test is of its start, and Flower can take over 10 s to stop on SIGTERM while it retries.
        flower.kill()
        flower.wait(timeout=10)
