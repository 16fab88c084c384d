"""The Swarm stack generated from compose/prod: what a stack needs instead of what it rejects."""

from pathlib import Path

import pytest

from tasks.lib.swarm import stackfile


def merged(tmp_path: Path) -> dict:
    """A small compose/prod-shaped merged model (docker compose config --format json)."""
    secret = tmp_path / "secret_key"
    secret.write_text("one")
    (tmp_path / "fullchain.pem").write_text("cert")
    (tmp_path / "privkey.pem").write_text("key")
    app = {
        "image": "desideliver-django:abc",
        "build": {"context": "."},
        "restart": "unless-stopped",
        "security_opt": ["no-new-privileges:true"],
        "depends_on": {"db": {"condition": "service_healthy"}},
        "deploy": {"resources": {"limits": {"cpus": 2, "memory": "512M", "pids": 256}}, "placement": {}},
        "secrets": [{"source": "secret_key", "target": "/run/secrets/secret_key"}],
    }
    return {
        "services": {
            "web": app,
            "worker": dict(app),
            "migrate": dict(app),
            "db-roles": {"image": "desideliver-backup:abc"},
            "db": {"image": "postgres:17-trixie", "shm_size": "128m", "cpu_shares": 256},
            "proxy": {
                "image": "desideliver-proxy:abc",
                "ports": [{"mode": "ingress", "host_ip": "127.0.0.1", "target": 8443, "published": "443"}],
                "volumes": [{"type": "bind", "source": str(tmp_path), "target": "/etc/nginx/tls"}],
            },
        },
        "networks": {"internal": {"internal": True}, "edge": {}},
        "volumes": {"postgres_data": {}},
        "secrets": {"secret_key": {"file": str(secret)}},
    }


def test_what_a_stack_rejects_is_replaced_by_what_keeps_each_guarantee(tmp_path):
    digest = "registry:5000/desideliver-django@sha256:" + "a" * 64
    generated = stackfile.stack(merged(tmp_path), "shop", {"desideliver-django": digest}, tmp_path)
    services = generated["services"]
    assert set(services) == {"web", "worker", "db", "proxy", "db-roles", "migrate"}
    for name in stackfile.JOBS:  # run once per deploy, awaited; a failure stops it
        assert services[name]["deploy"]["mode"] == "replicated-job"
        assert services[name]["deploy"]["restart_policy"] == {"condition": "none"}
    for service in (services[name] for name in ("web", "worker", "db", "proxy")):
        assert not set(service) & set(stackfile.DROPPED)
        assert service["deploy"]["endpoint_mode"] == "dnsrr"
        assert service["deploy"]["restart_policy"]["condition"] == "any"
    web = services["web"]
    assert web["image"] == digest  # every node runs the same bits
    assert web["deploy"]["replicas"] == 2
    assert web["deploy"]["update_config"]["order"] == "start-first"
    assert web["deploy"]["update_config"]["failure_action"] == "rollback"
    assert web["deploy"]["resources"]["limits"] == {"cpus": "2", "memory": "512M"}
    assert web["deploy"]["resources"]["reservations"]["memory"] == "192M"
    assert services["db"]["deploy"]["placement"]["constraints"] == [stackfile.DATA_NODE]
    proxy = services["proxy"]
    assert proxy["ports"] == [{"target": 8443, "published": 443, "protocol": "tcp", "mode": "host"}]
    assert "volumes" not in proxy
    assert {s["target"] for s in proxy["secrets"]} == {"/etc/nginx/tls/fullchain.pem", "/etc/nginx/tls/privkey.pem"}
    assert generated["networks"]["internal"] == {"driver": "overlay", "internal": True}


def test_monitoring_is_left_out_of_the_swarm_stack_with_the_network_only_it_uses(tmp_path):
    model = merged(tmp_path)
    model["services"]["web"]["networks"] = {"internal": {}, "metrics": {}}
    model["services"]["prometheus"] = {
        "image": "desideliver-prometheus:abc",
        "profiles": ["monitoring"],
        "ports": [{"host_ip": "127.0.0.1", "target": 9090, "published": "9090"}],
        "networks": {"metrics": {}, "monitor-ui": {}},
    }
    model["networks"].update({"metrics": {"internal": True}, "monitor-ui": {}})
    generated = stackfile.stack(model, "shop", {}, tmp_path)
    assert "prometheus" not in generated["services"]
    assert set(generated["networks"]) == {"internal", "edge", "metrics"}


def test_web_and_worker_keep_their_media_volume_and_stay_unpinned(tmp_path):
    """MEDIA_ROOT stays writable on a read-only root; media is per node (docs/operations.md), web still spreads."""
    model = merged(tmp_path)
    media = {"type": "volume", "source": "media", "target": "/app/var/media", "volume": {}}
    for name in ("web", "worker"):
        model["services"][name] = {**model["services"][name], "volumes": [media]}
    model["volumes"]["media"] = {"name": "shop-prod_media"}
    generated = stackfile.stack(model, "shop", {}, tmp_path)
    assert generated["volumes"]["media"] == {}
    for name in ("web", "worker"):
        assert media in generated["services"][name]["volumes"]
        assert "placement" not in generated["services"][name]["deploy"]


def test_a_deploy_step_names_only_its_services_and_keeps_every_network_and_secret(tmp_path):
    generated = stackfile.stack(merged(tmp_path), "shop", {}, tmp_path)
    part = stackfile.subset(generated, ("migrate",))
    assert list(part["services"]) == ["migrate"]
    assert part["networks"] == generated["networks"]
    assert part["secrets"] == generated["secrets"]
    assert set(generated["services"]) > {"migrate"}  # the whole stack is left as it was


def test_a_changed_secret_gets_a_new_name_so_rotation_is_a_rolling_update(tmp_path):
    model = merged(tmp_path)
    before = stackfile.stack(model, "shop", {}, tmp_path)["secrets"]["secret_key"]["name"]
    (tmp_path / "secret_key").write_text("two")
    after = stackfile.stack(model, "shop", {}, tmp_path)["secrets"]["secret_key"]["name"]
    assert before != after
    assert before.startswith("shop_secret_key_")


def test_converged_means_every_replica_runs_and_every_job_completed():
    from tasks.lib.swarm.manager import converged

    assert converged("shop_web 2/2")
    assert not converged("shop_web 1/2")
    assert converged("shop_migrate 0/1 (1/1 completed)")
    assert not converged("shop_migrate 0/1 (0/1 completed)")


def test_swarm_commands_aim_at_the_manager_and_deploy_needs_a_registry(tmp_path, monkeypatch):
    import pytest
    from invoke.exceptions import Exit

    from tasks.lib import stack
    from tasks.lib.swarm import manager

    env = tmp_path / ".env.prod"
    env.write_text("SWARM_HOST=ssh://deploy@manager\nSWARM_STACK=shop\n")
    monkeypatch.setenv("DESIDELIVER_ENV_FILE", str(env))
    prod = stack.stack("prod")
    assert manager.docker(prod, "stack", "ps", manager.name(prod)) == "docker -H ssh://deploy@manager stack ps shop"
    with pytest.raises(Exit, match=r"set SWARM_REGISTRY in \.env\.prod"):
        manager.registry(prod)


def swarm_env(tmp_path, monkeypatch, extra: str = "", host: str = "ssh://deploy@manager") -> None:
    env = tmp_path / ".env.prod"
    env.write_text(f"SWARM_HOST={host}\nSWARM_STACK=shop\n" + extra)
    monkeypatch.setenv("DESIDELIVER_ENV_FILE", str(env))


def test_an_engine_on_plain_tcp_is_refused_naming_the_setting_the_risk_and_what_to_use(tmp_path, monkeypatch):
    from invoke.exceptions import Exit

    from tasks.lib import stack
    from tasks.lib.swarm import data_node, manager

    for host in ("tcp://10.0.0.1:2375", "10.0.0.1:2375"):  # the docker CLI reads a bare address as tcp://
        swarm_env(tmp_path, monkeypatch, host=host)
        with pytest.raises(Exit) as refused:
            manager.docker(stack.stack("prod"), "stack", "ps", "shop")
        assert refused.value.code == 2
        assert refused.value.message == (
            f"✗ SWARM_HOST={host} in .env.prod is an engine on plain TCP: whoever reaches it is root on the node, "
            "and a deploy sends every secret and the TLS key over it in clear. Use ssh://user@host, or "
            "tcp://HOST:2376 with SWARM_TLS_DIR holding this host's client certificate (ca.pem, cert.pem, key.pem)."
        )
    # The manager's engine is fine (ssh), the data node's is not.
    swarm_env(tmp_path, monkeypatch, "SWARM_DATA_HOST=tcp://10.0.0.2:2375\n")
    monkeypatch.setattr(data_node, "container", lambda s, service: "c0ffee")
    with pytest.raises(Exit, match=r"SWARM_DATA_HOST=tcp://10\.0\.0\.2:2375 in \.env\.prod is an engine on plain TCP"):
        data_node.DataNode("prod").exec("db", "psql")


# deploy builds and pushes before reaching an engine, backup's only step is an
# action, restore reads a file first: each checks both engines up front.
@pytest.mark.parametrize(
    ("task", "manager", "data_node"),
    [
        ("deploy", "ssh://deploy@manager", "tcp://10.0.0.2:2375"),
        ("backup", "ssh://deploy@manager", "tcp://10.0.0.2:2375"),
        ("restore", "ssh://deploy@manager", "tcp://10.0.0.2:2375"),
        ("ps", "tcp://10.0.0.1:2375", ""),
    ],
)
def test_a_plain_tcp_engine_is_refused_before_anything_runs_in_a_dry_run_too(
    tmp_path, monkeypatch, task, manager, data_node
):
    from invoke import MockContext
    from invoke.exceptions import Exit

    from tasks import swarm

    swarm_env(tmp_path, monkeypatch, f"SWARM_DATA_HOST={data_node}\n", host=manager)
    plans = []
    monkeypatch.setattr(swarm, "execute", lambda plan, dry_run=False: plans.append(plan))
    arguments = {"deploy": {"tag": "t"}, "restore": {"file": "latest"}}.get(task, {})
    with pytest.raises(Exit, match=r"=tcp://10\.0\.0\.\d:2375 in \.env\.prod is an engine on plain TCP"):
        getattr(swarm, task)(MockContext(), dry_run=True, **arguments)
    assert plans == []  # not even shown as a plan


def test_the_lab_opt_in_allows_plain_tcp_and_warns_once_per_run(tmp_path, monkeypatch, capsys):
    from tasks.lib import stack
    from tasks.lib.swarm import manager

    manager.warn_plain_tcp.cache_clear()
    swarm_env(tmp_path, monkeypatch, "SWARM_ALLOW_PLAIN_TCP=yes\n", host="tcp://10.0.0.1:2375")
    prod = stack.stack("prod")
    assert manager.docker(prod, "stack", "ps", "shop") == "docker -H tcp://10.0.0.1:2375 stack ps shop"
    assert manager.docker(prod, "service", "ls") == "docker -H tcp://10.0.0.1:2375 service ls"
    warnings = [line for line in capsys.readouterr().out.splitlines() if "plain TCP" in line]
    assert warnings == [
        "  ! SWARM_HOST=tcp://10.0.0.1:2375 is plain TCP (SWARM_ALLOW_PLAIN_TCP=yes): whoever reaches it is root on "
        "the node, and secrets and the TLS key cross it in clear. For a lab only."
    ]


def test_ssh_a_local_socket_and_tcp_with_a_client_certificate_are_accepted(tmp_path, monkeypatch):
    from tasks.lib import stack
    from tasks.lib.swarm import manager

    certificates = tmp_path / "swarm-tls"
    certificates.mkdir()
    for file in ("ca.pem", "cert.pem", "key.pem"):
        (certificates / file).write_text(file)
    tls = f"SWARM_TLS_DIR={certificates}\n"
    flags = (
        f"--tlsverify --tlscacert {certificates}/ca.pem --tlscert {certificates}/cert.pem "
        f"--tlskey {certificates}/key.pem"
    )
    for host, aimed in [
        ("ssh://deploy@manager", "-H ssh://deploy@manager "),
        ("unix:///var/run/docker.sock", "-H unix:///var/run/docker.sock "),
        ("", ""),  # this host's engine
        ("tcp://10.0.0.1:2376", f"{flags} -H tcp://10.0.0.1:2376 "),
    ]:
        swarm_env(tmp_path, monkeypatch, tls + "SWARM_DATA_HOST=tcp://10.0.0.2:2376\n", host=host)
        prod = stack.stack("prod")
        assert manager.docker(prod, "stack", "ps", "shop") == f"docker {aimed}stack ps shop"
        assert manager.docker(prod, "ps", node="SWARM_DATA_HOST") == f"docker {flags} -H tcp://10.0.0.2:2376 ps"


def test_a_client_certificate_directory_missing_a_file_is_refused_naming_it(tmp_path, monkeypatch):
    from invoke.exceptions import Exit

    from tasks.lib import stack
    from tasks.lib.swarm import manager

    certificates = tmp_path / "swarm-tls"
    certificates.mkdir()
    for file in ("ca.pem", "cert.pem"):
        (certificates / file).write_text(file)
    swarm_env(tmp_path, monkeypatch, f"SWARM_TLS_DIR={certificates}\n", host="tcp://10.0.0.1:2376")
    with pytest.raises(Exit) as refused:
        manager.docker(stack.stack("prod"), "stack", "ps", "shop")
    assert refused.value.code == 2
    assert refused.value.message.startswith(f"✗ SWARM_TLS_DIR in .env.prod ({certificates}) lacks key.pem: it needs")
    swarm_env(tmp_path, monkeypatch, f"SWARM_TLS_DIR={tmp_path / 'none'}\n", host="tcp://10.0.0.1:2376")
    with pytest.raises(Exit, match=r"lacks ca\.pem, cert\.pem, key\.pem: it needs"):
        manager.docker(stack.stack("prod"), "stack", "ps", "shop")


def test_data_commands_go_to_the_data_nodes_engine_and_name_it_when_nothing_runs_there(tmp_path, monkeypatch):
    import pytest
    from invoke.exceptions import Exit

    from tasks.lib.swarm import data_node

    swarm_env(tmp_path, monkeypatch, "SWARM_DATA_HOST=ssh://deploy@data\n")
    asked = []

    def docker_ps(command, step, **kwargs):
        asked.append(command)
        return "c0ffee" if "shop_db" in command else ""

    monkeypatch.setattr(data_node, "output", docker_ps)
    node = data_node.DataNode("prod")
    assert node.exec("db", "psql") == "docker -H ssh://deploy@data exec -i c0ffee psql"
    assert node.exec("db", "pg_restore") == "docker -H ssh://deploy@data exec -i c0ffee pg_restore"
    assert len(asked) == 1  # one lookup of the db task per restore, not one per command
    assert asked[0].startswith("docker -H ssh://deploy@data ps -q --filter label=com.docker.swarm.service.name=shop_db")
    with pytest.raises(Exit, match=r"no running shop_backup task on the data node's engine \(ssh://deploy@data\)"):
        data_node.backup(node)


def test_the_swap_is_retried_while_a_connection_slips_in_and_never_on_another_error(tmp_path, monkeypatch):
    import subprocess

    import pytest
    from invoke.exceptions import Exit

    from tasks.lib.swarm import data_node

    swarm_env(tmp_path, monkeypatch)
    monkeypatch.setattr(data_node, "container", lambda s, service: "c0ffee")
    monkeypatch.setattr(data_node.time, "sleep", lambda seconds: None)
    answers = iter(["database is being accessed by other users", "database is being accessed by other users", ""])
    calls = []

    def run(command, **kwargs):
        calls.append(command)
        error = next(answers)
        return subprocess.CompletedProcess(command, 1 if error else 0, "", error)

    monkeypatch.setattr(data_node, "run", run)
    data_node.swap_in(data_node.DataNode("prod"), "ALTER DATABASE a RENAME TO b;")
    assert len(calls) == 3
    answers = iter(["permission denied to rename database"])
    with pytest.raises(Exit, match="the swap failed and changed nothing: permission denied"):
        data_node.swap_in(data_node.DataNode("prod"), "ALTER DATABASE a RENAME TO b;")


def restore_with(tmp_path, monkeypatch, failing_step: str = "", swap_fails: bool = False):
    """data_node.restore with the data node faked: which steps ran, which swaps, and the Exit it raised."""
    from datetime import datetime

    import pytest
    from invoke.exceptions import Exit

    from tasks.lib.db import restores
    from tasks.lib.swarm import data_node

    swarm_env(tmp_path, monkeypatch)
    monkeypatch.setattr(data_node, "container", lambda s, service: "c0ffee")
    ran, swaps = [], []

    def execute(plan, dry_run=False):
        for step in plan:
            ran.append(step.name)
            if failing_step and step.name.startswith(failing_step):
                raise Exit(f"✗ {failing_step} failed", 1)

    def swap_in(s, sql):
        if swap_fails:
            raise Exit("✗ the swap failed and changed nothing", 1)
        swaps.append(sql)

    monkeypatch.setattr(data_node, "execute", execute)
    monkeypatch.setattr(data_node, "swap_in", swap_in)
    swap = restores.Swap.at("desideliver", datetime(2026, 1, 2, 3, 4, 5))
    with pytest.raises(Exit) as failure:
        data_node.restore(data_node.DataNode("prod"), tmp_path / "x.dump", swap, migrate=True, dry_run=False)
    return ran, swaps, failure.value.message


def test_a_swarm_restore_the_app_is_not_ready_on_puts_the_previous_database_back(tmp_path, monkeypatch):
    ran, swaps, message = restore_with(tmp_path, monkeypatch, failing_step="check the app is ready")
    assert "apply migrations to the restored database (a job of the deployed image)" in ran  # aside, before the swap
    # The room for the scratch copy is checked before the safety backup and the scratch database start.
    assert ran.index("check the database's volume has room for the scratch copy") < ran.index(
        next(name for name in ran if name.startswith("take a verified pre-restore backup"))
    )
    assert len(swaps) == 2  # in, then back
    assert 'RENAME TO "desideliver_failed_restore_20260102030405"' in swaps[1]
    assert "'desideliver_before_restore_20260102030405' is live again" in message
    assert "kept as 'desideliver_failed_restore_20260102030405'" in message


def test_a_swarm_restore_that_cannot_swap_or_fails_before_drops_the_scratch_database(tmp_path, monkeypatch):
    ran, swaps, message = restore_with(tmp_path, monkeypatch, swap_fails=True)
    assert swaps == []
    assert ran[-1] == "drop the scratch database"
    assert "changed nothing" in message
    ran, swaps, _ = restore_with(tmp_path, monkeypatch, failing_step="take a verified pre-restore backup")
    assert swaps == []
    assert ran[-1] == "drop the scratch database"


def test_swarm_config_writes_the_generated_stack_beside_the_deployed_one(tmp_path, monkeypatch):
    import json

    from invoke import MockContext

    from tasks import swarm
    from tasks.lib.swarm import manager

    swarm_env(tmp_path, monkeypatch)
    monkeypatch.setattr(manager, "STACK_FILE", tmp_path / "var" / "swarm" / "stack.json")
    monkeypatch.setattr(manager, "ROOT", tmp_path)
    monkeypatch.setattr(manager, "merged_config", lambda s, tag: merged(tmp_path))
    monkeypatch.setattr(manager, "tls_dir", lambda: tmp_path)
    plans = []
    monkeypatch.setattr(swarm, "execute", lambda plan, dry_run=False: plans.append(plan))
    swarm.config(MockContext())
    plans[0][1].action()  # generate and write
    written = json.loads((tmp_path / "var" / "swarm" / "stack.config.json").read_text())
    assert written["services"]["migrate"]["deploy"]["mode"] == "replicated-job"
    assert not (tmp_path / "var" / "swarm" / "stack.json").exists()  # the record of what runs is a deploy's
