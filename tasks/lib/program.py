"""`./inv` itself: Invoke's command line, with the conventions newcomers expect.

- bare `./inv` lists the collections, one line each (Invoke prints its own
  core options), and points at the full list;
- a mistyped task gets a "did you mean" from the task names, a mistyped flag
  one from that task's own flags;
- Invoke's parse errors (a flag without its value, a missing argument, a bad
  -D or --list-format) are one line naming the flag and what it accepts;
- `./inv dev.manage showmigrations orders` needs no quotes: every word after
  a `*.manage` task (and its own flags) is the management command.
"""

from __future__ import annotations

import difflib
import itertools
import re
import shlex
from collections.abc import Iterator
from contextlib import contextmanager

import invoke
from invoke.exceptions import Exit, ParseError
from invoke.parser import Argument, ParserContext

from .cli import checked

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
    def core_args(self) -> list[Argument]:
        # -D and --list-format checked like the tasks' flags: Invoke's own failures are tracebacks.
        return checked(super().core_args())

    def no_tasks_given(self) -> None:
        # The collections only: every task with its help is a hundred lines.
        self.list_depth = 1
        self.list_tasks()
        print(
            f"{self.binary} --list lists every task; {self.binary} --help TASK explains one; "
            f"{self.binary} --help shows Invoke's own options."
        )
        raise Exit

    def parse_core(self, argv: list[str] | None) -> None:
        with self.explained():
            super().parse_core(argv)

    def parse_tasks(self) -> None:
        positional = {name for name in self.collection.task_names if self.collection[name].positional}
        if task := help_wanted(list(self.core.unparsed), positional):
            self.parser = self._make_parser()
            self.print_task_help(task)
            raise Exit
        own_flags = {"-n", "--dry-run"}
        self.core.unparsed = join_command_words(list(self.core.unparsed), own_flags)
        with self.explained():
            super().parse_tasks()

    def parse_cleanup(self) -> None:
        with self.explained():  # `--help TASK` of an unknown task
            super().parse_cleanup()

    @contextmanager
    def explained(self) -> Iterator[None]:
        """Invoke's parse errors, reworded as one line: what is wrong, what it accepts, what to do."""
        try:
            yield
        except ParseError as error:
            raise ParseError(self.explanation(str(error), error.context)) from None

    def explanation(self, message: str, context: ParserContext | None) -> str:
        task = context.name if context is not None and context.name else ""
        if missing := re.fullmatch(r"'.+' did not receive required positional arguments: '([\w-]+)'.*", message):
            argument = context.args[missing.group(1)]
            return f"✗ {task} needs {argument.name.upper()}: {argument.help}"
        if flag := re.fullmatch(r"Flag <\w+: ([\w-]+).*> needed value and was not given one!", message):
            owner = self.owner(flag.group(1), context)
            argument = owner.args[flag.group(1)]
            where = f"{owner.name} " if owner.name else ""
            return f"✗ {where}--{argument.names[0]} needs a value: {argument.help}"
        if unknown := re.fullmatch(r"No idea what '(.+)' is!", message):
            word = unknown.group(1)
            if word.startswith("-"):
                scope = context if context is not None else self.initial_context
                flags = [*scope.flags, *scope.inverse_flags]
                listed = f"{self.binary} --help {task} lists its flags" if task else f"{self.binary} --help lists them"
                return f"✗ {task or self.binary} has no flag {word}.{suggestion(word, flags)} ({listed})"
            return (
                f"✗ no task {word!r}.{suggestion(word, self.collection.task_names)} "
                f"({self.binary} lists the tasks, {self.binary} --help TASK their flags)"
            )
        return message

    def owner(self, name: str, context: ParserContext | None) -> ParserContext:
        """Where argument `name` was given: the task's `context`, else among Invoke's own options."""
        return context if context is not None and name in context.args else self.initial_context
