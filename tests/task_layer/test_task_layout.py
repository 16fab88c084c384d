"""The task layer's structure: two layers, small modules, one flag letter per meaning, no tracebacks."""

import ast
from pathlib import Path

import pytest

import tasks
from tests.helpers import ROOT, inv

from .test_tasks import all_tasks

COLLECTIONS = sorted(p.stem for p in (ROOT / "tasks").glob("*.py"))
LIB_DIR = ROOT / "tasks" / "lib"


def lib_name(path: Path) -> str:
    """tasks/lib/db/restores.py -> 'db.restores'."""
    return ".".join(path.relative_to(LIB_DIR).with_suffix("").parts)


LIB = sorted(lib_name(p) for p in LIB_DIR.rglob("*.py") if p.stem != "__init__")


def imported_modules(path: Path) -> set[str]:
    """The tasks modules `path` imports: 'lib.db.restores' for shared code, the name of a collection."""
    package = ["tasks", *path.parent.relative_to(ROOT / "tasks").parts]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = package[: len(package) - node.level + 1]
            module = ".".join([*base, *([node.module] if node.module else [])])
        else:
            module = node.module or ""
        if not module.startswith("tasks"):
            continue
        # `from tasks.lib.db import backups` imports the module tasks.lib.db.backups.
        names = [f"{module}.{a.name}" for a in node.names]
        submodules = [n for n in names if (ROOT / n.replace(".", "/")).with_suffix(".py").exists()]
        for full in submodules or [module]:
            name = full.removeprefix("tasks.")
            found.add(name if name.startswith("lib.") or name == "lib" else name.split(".")[0])
    return found


def test_no_collection_imports_another_collection():
    for name in COLLECTIONS:
        others = imported_modules(ROOT / "tasks" / f"{name}.py") & set(COLLECTIONS)
        assert not others, f"tasks/{name}.py imports the collection(s) {others}; move shared code to tasks/lib/"


def test_lib_imports_no_collection_and_defines_no_task():
    for path in LIB_DIR.rglob("*.py"):
        imported = imported_modules(path)
        assert all(m.startswith("lib.") for m in imported), f"{path} imports {imported}"
        assert "\n@task" not in path.read_text(), f"{path} defines a task"


def test_lib_modules_import_only_modules_listed_before_them():
    order = [line.split()[0] for line in tasks.lib.__doc__.split("\n\n")[2].strip().splitlines()]
    assert sorted(order) == LIB, "tasks/lib/__init__.py must list every module of tasks/lib in import order"
    for position, name in enumerate(order):
        for imported in imported_modules(LIB_DIR / f"{name.replace('.', '/')}.py"):
            assert order.index(imported.removeprefix("lib.")) < position, f"lib.{name} imports {imported}"


def test_the_layout_check_sees_imports_across_folders():
    """The checks above are only as good as imported_modules: it must resolve each form the code uses."""
    assert imported_modules(LIB_DIR / "pitr" / "cluster_restore.py") >= {
        "lib.journal",
        "lib.db.database",
        "lib.pitr.repository",
    }
    assert {"lib.db.backups", "lib.pitr.repository", "lib.lock"} <= imported_modules(ROOT / "tasks" / "db.py")


def test_every_module_is_under_300_lines():
    for path in [*(ROOT / "tasks").glob("*.py"), *LIB_DIR.rglob("*.py")]:
        assert len(path.read_text().splitlines()) < 300, path


def test_dry_run_is_n_everywhere_and_n_means_nothing_else():
    for name, task in all_tasks().values():
        for argument in task.get_arguments():
            if argument.names[0] == "dry-run":
                assert "n" in argument.names, name
            else:
                assert "n" not in argument.names, f"{name} --{argument.name} takes -n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["db.backup", "--env", "nonsense"], "--env 'nonsense' is not one of: dev, prod"),
        (["db.restore", "latest", "--env", "staging"], "--env 'staging' is not one of: dev, prod"),
        (["dev.up", "--native", "--port", "abc"], "--port takes a whole number from 0 to 65535, not 'abc'"),
        (["dev.up", "--native", "--port", "99999"], "--port takes a whole number from 0 to 65535, not 99999"),
        (["dev.logs", "--tail", "-3"], "--tail takes a whole number"),
        (["prod.deploy", "--wait-timeout", "soon"], "--wait-timeout takes a whole number from 1 to 3600"),
        # Refused while parsing, so a dry run shows nothing either.
        (["swarm.scale", "-n", "--replicas", "abc"], "✗ --replicas takes a whole number 0 or more, not 'abc'."),
        (["swarm.scale", "-n", "-r", "-3"], "✗ --replicas takes a whole number 0 or more, not -3."),
        (["prod.deploy", "-n", "--tag", "bad tag!"], "✗ --tag 'bad tag!' is not an image tag: Docker's rule is [A-Z"),
        (["swarm.deploy", "-n", "--tag", ".hidden"], "✗ --tag '.hidden' is not an image tag"),
        (["dev.manage", "showmigrations 'orders"], "cannot be split into words (No closing quotation)"),
        (["db.restore"], "db.restore needs FILE: Dump to restore: a path, a name in the backups directory"),
        (["db.restore", ""], "name the backup to restore: a file or 'latest'"),
        (["db.restore", "/"], "is a directory; name a backup file in it"),
    ],
)
def test_bad_arguments_get_one_line_naming_them_and_no_traceback(args, message):
    result = inv(*args)
    assert result.returncode != 0
    assert message in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert "Dry run" not in result.stdout


def test_a_bad_number_in_the_env_file_names_the_variable(tmp_path, monkeypatch):
    from invoke.exceptions import Exit

    from tasks.lib import stack

    env = tmp_path / ".env"
    env.write_text("WEB_PORT=eighty\n")
    monkeypatch.setenv("DESIDELIVER_ENV_FILE", str(env))
    monkeypatch.delenv("WEB_PORT", raising=False)
    with pytest.raises(Exit, match=r"WEB_PORT='eighty' in .env must be a whole number >= 1"):
        stack.whole_number_setting("dev", "WEB_PORT", 8000, low=1)


def test_invokes_own_dry_flag_means_dry_run_and_runs_nothing():
    result = inv("--dry", "db.backup", "--env", "prod")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Dry run: these steps would run (nothing was changed):")
    assert "backup-once.sh" in result.stdout
