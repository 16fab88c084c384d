"""DesiDeliver task runner: `./inv --list` shows every collection.

Layout, and why it looks like this: Invoke 3 loads this file (`tasks.py`) as
the module `tasks`. The collections live in the folder `tasks/`, which has
*no* `__init__.py`. Setting `__path__` below makes this module behave as the
package for that folder, so `from tasks import dev` finds `tasks/dev.py`, and
Invoke, pytest and plain Python all import the very same modules. Adding a
`tasks/__init__.py` would make plain Python (and so pytest) import that file
as `tasks` instead of this one; tests/test_task_layout.py fails if it appears.

Shared logic sits in `tasks/_stack.py` and `tasks/_plan.py`, which define no
tasks (a Task imported into a collection module would be listed twice).
"""

from pathlib import Path

from invoke import Collection

__path__ = [str(Path(__file__).resolve().with_suffix(""))]

from tasks import bench, db, deps, dev, lint, prod, test

ns = Collection()
for module in (dev, db, prod, test, lint, deps, bench):
    ns.add_collection(Collection.from_module(module))
