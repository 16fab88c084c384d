"""docker/postgres/pgbackrest-run.sh: what pgBackRest is given, with a stand-in pgbackrest that prints it.

Every pgBackRest call of the database image goes through this script (archive_command included), so a
setting it turns into the wrong option stops archiving: the end-to-end test shows the repository works,
these show each setting's path, including the ones that must fail.
"""

import subprocess
from pathlib import Path

import pytest

from tests.helpers import ROOT, fake_commands

SCRIPT = ROOT / "docker" / "postgres" / "pgbackrest-run.sh"
FINGERPRINT = "ab" * 32
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn...\n-----END OPENSSH PRIVATE KEY-----\n"


def run(tmp_path: Path, command: str = "info", key: str = KEY, **settings: str) -> subprocess.CompletedProcess:
    stand_in = fake_commands(tmp_path / "bin", pgbackrest='env | grep "^PGBACKREST_" | sort; echo "args: $*"')
    (tmp_path / "key").write_text(key)
    (tmp_path / "cipher").write_text("the-repository-key\n")
    environment = {
        "PATH": f"{stand_in}:/usr/bin:/bin",
        "BACKUP_CIPHER_PASS_FILE": str(tmp_path / "cipher"),
        "OFFSITE_SSH_KEY_FILE": str(tmp_path / "key"),
        **settings,
    }
    # Beside its sourced helper, as in the image (/usr/local/bin).
    (tmp_path / "read-secret.sh").write_text((ROOT / "docker" / "backup" / "read-secret.sh").read_text())
    (tmp_path / "pgbackrest-run.sh").write_text(SCRIPT.read_text())
    return subprocess.run(
        ["bash", str(tmp_path / "pgbackrest-run.sh"), command], env=environment, capture_output=True, text=True
    )


def options(result: subprocess.CompletedProcess) -> dict[str, str]:
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if line.startswith("PGBACKREST_"))


def test_without_an_off_host_repository_only_the_local_one_is_configured(tmp_path):
    given = options(run(tmp_path))
    assert given["PGBACKREST_REPO1_CIPHER_PASS"] == "the-repository-key"
    assert not [name for name in given if name.startswith("PGBACKREST_REPO2_")]


def test_an_sftp_address_becomes_pgbackrests_repo2_pinned_and_encrypted(tmp_path):
    result = run(
        tmp_path, PITR_OFFSITE="sftp://pgbackrest@backup.example.com:2222/srv/pgbackrest/shop",
        PITR_OFFSITE_FINGERPRINT=FINGERPRINT, PITR_OFFSITE_RETENTION_DAYS="30",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    given = options(result)
    assert {name: given[name] for name in given if name.startswith("PGBACKREST_REPO2_")} == {
        "PGBACKREST_REPO2_TYPE": "sftp",
        "PGBACKREST_REPO2_SFTP_HOST_USER": "pgbackrest",
        "PGBACKREST_REPO2_SFTP_HOST": "backup.example.com",
        "PGBACKREST_REPO2_SFTP_HOST_PORT": "2222",
        "PGBACKREST_REPO2_PATH": "/srv/pgbackrest/shop",
        "PGBACKREST_REPO2_SFTP_PRIVATE_KEY_FILE": str(tmp_path / "key"),
        "PGBACKREST_REPO2_SFTP_HOST_KEY_CHECK_TYPE": "fingerprint",
        "PGBACKREST_REPO2_SFTP_HOST_KEY_HASH_TYPE": "sha256",
        "PGBACKREST_REPO2_SFTP_HOST_FINGERPRINT": FINGERPRINT,
        "PGBACKREST_REPO2_CIPHER_TYPE": "aes-256-cbc",
        "PGBACKREST_REPO2_CIPHER_PASS": "the-repository-key",
        "PGBACKREST_REPO2_RETENTION_FULL_TYPE": "time",
        "PGBACKREST_REPO2_RETENTION_FULL": "30",
    }
    assert "args: info" in result.stdout


@pytest.mark.parametrize(
    ("settings", "key", "said"),
    [
        ({"PITR_OFFSITE": "backup.example.com:/srv"}, KEY, "is not sftp://USER@HOST[:PORT]/ABSOLUTE/PATH"),
        ({"PITR_OFFSITE": "sftp://u@h/srv", "PITR_OFFSITE_FINGERPRINT": "SHA256:abc"}, KEY, "64 hex digits"),
        ({"PITR_OFFSITE": "sftp://u@h/srv", "PITR_OFFSITE_FINGERPRINT": FINGERPRINT}, "# none yet\n", "no private key"),
    ],
)  # fmt: skip
def test_a_broken_off_host_setting_fails_every_command_but_archiving_goes_on_locally(tmp_path, settings, key, said):
    refused = run(tmp_path, "backup", key, **settings)
    assert refused.returncode == 2
    assert said in refused.stderr
    assert "args:" not in refused.stdout
    # archive_command: the segment still reaches the local repository, under pgBackRest's queue bound.
    pushed = run(tmp_path, "archive-push", key, **settings)
    assert pushed.returncode == 0
    assert said in pushed.stderr
    assert "args: archive-push" in pushed.stdout
    assert "PGBACKREST_REPO2_TYPE" not in pushed.stdout
