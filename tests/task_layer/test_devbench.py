"""The Docker-vs-native comparison reaches the dev stack's own PostgreSQL and Redis at their containers' addresses."""

import pytest

from tasks.lib.bench.dev_stacks import at


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://desideliver@db:5432/desideliver", "postgres://desideliver@172.22.0.3:5432/desideliver"),
        ("redis://redis:6379/0", "redis://172.22.0.3:6379/0"),
        ("redis://:p%40ss@redis:6379/1", "redis://:p%40ss@172.22.0.3:6379/1"),
        ("postgres://db@db/app", "postgres://db@172.22.0.3/app"),  # a user named like the host keeps its name
    ],
)
def test_a_service_url_points_at_the_address_with_its_user_port_and_path_kept(url, expected):
    assert at(url, "172.22.0.3") == expected
