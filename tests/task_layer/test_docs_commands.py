"""Every `./inv TASK --flag` the README and docs/ show names a task and flags it has.

The docs had drifted from the code (`db.transfer --env prod`, a flag db.transfer never had): a
reader who pastes a command must get the task, not "No idea what '--env' is".
"""

import re

import pytest

import tasks
from tests.helpers import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# `./inv TASK args` in a code span; a trailing `*` is a family of tasks (`./inv swarm.*`), not one.
COMMAND = re.compile(r"`\./inv ([a-z][\w-]*(?:\.[\w-]+)?)((?: [^`]*)?)`")
FLAG = re.compile(r"(?<![\w-])(--?[a-zA-Z][\w-]*)")


def flags_by_task() -> dict[str, set[str]]:
    """Each task's names (aliases too) and the flags its parser takes, long and short, --no- forms too."""
    known: dict[str, set[str]] = {}
    for context in tasks.ns.to_contexts():
        flags = {"--help", "-h"}
        for argument in context.args.values():
            for name in argument.names:
                flags.add(("-" if len(name) == 1 else "--") + name.replace("_", "-"))
        flags |= set(context.inverse_flags)
        for name in (context.name, *context.aliases):
            known[name] = flags
    return known


def shown_commands() -> list[tuple[str, str, str]]:
    return [(doc.name, m.group(1), m.group(2)) for doc in DOCS for m in COMMAND.finditer(doc.read_text())]


def test_the_docs_show_commands():
    assert len(shown_commands()) > 100


@pytest.mark.parametrize(("doc", "task", "rest"), shown_commands())
def test_each_command_in_the_docs_names_a_real_task_and_its_flags(doc, task, rest):
    known = flags_by_task()
    assert task in known, f"{doc}: ./inv {task} is no task"
    options = rest.split(" -- ")[0]  # after `--`, the arguments go to the tool (pytest), not to ./inv
    unknown = {flag for flag in FLAG.findall(options) if flag.split("=")[0] not in known[task]}
    assert not unknown, f"{doc}: ./inv {task}{rest}: {task} has no {', '.join(sorted(unknown))}"


def readme_table() -> list[tuple[str, str, set[str]]]:
    """The README's table of commands: (collection, task, the flags written beside it)."""
    section = (ROOT / "README.md").read_text().split("\n## Commands\n")[1].split("\n## ")[0]
    rows: list[tuple[str, str, set[str]]] = []
    for collection, cell in re.findall(r"^\| `([a-z]+)` \| (.*) \|$", section, re.M):
        spans = re.findall(r"`([^`]+)`", cell)
        if spans[0].startswith("./inv"):
            continue  # a row of whole commands: the test above checks those
        for span in spans:
            if re.match(r"[a-z][a-z-]*( |$)", span):  # `restore FILE|latest`, `logs [-s SERVICE]`: a task, its flags
                rows.append((collection, span.split()[0], set(FLAG.findall(span.partition(" ")[2]))))
            elif span.startswith("-"):  # `transfer` (`--source FILE`): a flag of the task before it
                rows[-1][2].add(span.split()[0])
    return rows


def test_the_readme_table_names_real_tasks_and_their_flags():
    known = flags_by_task()
    rows = readme_table()
    assert len(rows) > 40
    wrong = [
        f"{collection}.{task}: "
        + (", ".join(sorted(flags - known[f"{collection}.{task}"])) if f"{collection}.{task}" in known else "no task")
        for collection, task, flags in rows
        if f"{collection}.{task}" not in known or flags - known[f"{collection}.{task}"]
    ]
    assert not wrong, wrong
