"""`./inv` itself: Invoke's command line, with the conventions newcomers expect.

- bare `./inv` lists the tasks (Invoke prints its own core options);
- a mistyped task or flag gets a "did you mean";
- `./inv dev.manage showmigrations orders` needs no quotes: every word after
  a `*.manage` task (and its own flags) is the management command.
"""

from __future__ import annotations

import difflib
import itertools
import re
import shlex

import invoke
from invoke.exceptions import Exit, ParseError

# Tasks whose first positional argument is a whole command line of their own.
PASS_THROUGH = ("dev.manage", "prod.manage")
HELP_FLAGS = ("-h", "--help")


def join_command_words(words: list[str], own_flags: set[str]) -> list[str]:
    """Fold the words after a pass-through task (past its own leading flags) into one argument."""
    for index, word in enumerate(words):
        if word not in PASS_THROUGH:
            continue
        start = index + 1
        while start < len(words) and words[start] in own_flags:
            start += 1
        rest = words[start:]
        if not rest or rest[0] in HELP_FLAGS:
            return words
        command = rest[0] if len(rest) == 1 else shlex.join(rest)
        return [*words[:start], command]
    return words


def help_wanted(words: list[str], positional: set[str]) -> str:
    """The task with a positional argument whose help `words` ask for (that argument would swallow -h)."""
    for task, following in itertools.pairwise(words):
        if task in positional and following in HELP_FLAGS:
            return task
    return ""


def suggestion(unknown: str, known: list[str]) -> str:
    close = difflib.get_close_matches(unknown, known, n=3, cutoff=0.6)
    return f" Did you mean: {', '.join(close)}?" if close else ""


class Program(invoke.Program):
    def no_tasks_given(self) -> None:
        self.list_tasks()
        print(f"\n{self.binary} --help TASK explains one task; {self.binary} --help shows Invoke's own options.")
        raise Exit

    def parse_tasks(self) -> None:
        positional = {name for name in self.collection.task_names if self.collection[name].positional}
        if task := help_wanted(list(self.core.unparsed), positional):
            self.parser = self._make_parser()
            self.print_task_help(task)
            raise Exit
        own_flags = {"-n", "--dry-run"}
        self.core.unparsed = join_command_words(list(self.core.unparsed), own_flags)
        try:
            super().parse_tasks()
        except ParseError as error:
            missing = re.fullmatch(r"'(.+)' did not receive required positional arguments: '(\w+)'.*", str(error))
            if missing:
                task, argument = missing.groups()
                explained = self.collection[task].help.get(argument, "")
                raise ParseError(f"✗ {task} needs {argument.upper()}: {explained}") from None
            unknown = re.fullmatch(r"No idea what '(.+)' is!", str(error))
            if not unknown:
                raise
            known = [*self.collection.task_names, *self.flag_names()]
            raise ParseError(
                f"{error}{suggestion(unknown.group(1), known)} ({self.binary} lists the tasks, "
                f"{self.binary} --help TASK their flags)"
            ) from None

    def flag_names(self) -> list[str]:
        return sorted({name for context in self._make_parser().contexts.values() for name in context.flags})
