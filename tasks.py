"""DesiDeliver task runner: `./inv --list` shows every collection.

Layout, and why it looks like this: Invoke 3 loads this file (`tasks.py`) as
the module `tasks`. The collections live in the folder `tasks/`, which has
*no* `__init__.py`. Setting `__path__` below makes this module behave as the
package for that folder, so `from tasks import dev` finds `tasks/dev.py`, and
Invoke, pytest and plain Python all import the very same modules. Adding a
`tasks/__init__.py` would make plain Python (and so pytest) import that file
as `tasks` instead of this one; tests/task_layer/test_tasks.py fails if it appears.

Two layers, and imports only go down:

    tasks/dev.py db.py prod.py swarm.py test.py lint.py deps.py bench.py   collections (tasks)
          |   no collection imports another
    tasks/lib/   run, cli, stack, lock, compose, checks, rollout... and the
                 domains db/, pitr/, swarm/, bench/: shared code that defines
                 no task and imports no collection (its order: tasks/lib/__init__.py)

tests/task_layer/test_task_layout.py fails when the layering breaks.
"""

import signal
from pathlib import Path

from invoke import Collection

__path__ = [str(Path(__file__).resolve().with_suffix(""))]

from tasks import bench, db, deps, dev, lint, prod, swarm, test  # after __path__
from tasks.lib.program import Program

ns = Collection()
for module in (dev, db, prod, swarm, test, lint, deps, bench):
    ns.add_collection(Collection.from_module(module))


def main() -> None:
    """What ./inv runs: Invoke on this collection, with the conventions of tasks/lib/program.py."""
    # `./inv | head` ends quietly, like any Unix tool, instead of a BrokenPipeError traceback.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    Program(namespace=ns, name="DesiDeliver", binary="./inv", binary_names=["inv"], version="1").run()
