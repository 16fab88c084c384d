"""src/flower_exporter.py: Flower's broker, from REDIS_URL and the password file, and nothing else."""

import pytest


def broker(monkeypatch, **env: str) -> str:
    for name in ("REDIS_URL", "REDIS_PASSWORD_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    import flower_exporter

    return flower_exporter.broker_url()


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
