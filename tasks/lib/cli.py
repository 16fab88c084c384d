"""The @task every collection uses: one short flag per meaning, and checked arguments.

Invoke gives each flag the first free letter of its name, so `-d` meant
`--docker` on one task and `--dry-run` on others. Here `--dry-run` is always
`-n` (as in make -n) and no other flag takes `n`. Whole-number flags, the
`--env` choice and image tags (Invoke's own -D and --list-format too, see
program.py) are checked while parsing, so before anything runs, --dry-run
included: a bad value is one line naming the flag and what it accepts, never
a traceback.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from typing import Any

import invoke
from invoke.exceptions import ParseError
from invoke.parser import Argument

DRY_RUN_SHORT = "n"
ENVIRONMENTS = ("dev", "prod")
# Accepted ranges of whole-number flags, by name; others take any number >= 0.
RANGES = {"port": (0, 65535), "wait_timeout": (1, 3600), "tail": (0, 1_000_000)}
# Flags that take comma-separated whole numbers, and their range (bench.load --products 2000,200000;
# seed_catalog names up to 2,027,520 products each its own way).
NUMBER_LISTS = {"products": (1, 2_000_000)}
# list_format: Invoke's own --list-format, which otherwise fails with a traceback.
CHOICES = {"env": ENVIRONMENTS, "list_format": ("flat", "nested", "json")}
# A flag that stands in for a positional argument: given, the positional is not
# required (db.restore --to POINT restores no FILE). Invoke otherwise requires
# every positional argument.
STANDS_IN = {"to": "file"}
# Docker's rule for an image tag; every --tag flag names one.
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def whole_numbers(name: str, value: str) -> list[int]:
    """`--NAME 2000,200000` as numbers in growing order, each in NUMBER_LISTS's range for NAME."""
    low, high = NUMBER_LISTS[name]
    accepted = f"whole numbers from {low:,} to {high:,}, comma-separated (e.g. 2000,200000)"
    try:
        numbers = sorted({int(part) for part in value.split(",")})
    except ValueError:
        numbers = []
    if not numbers or numbers[0] < low or numbers[-1] > high:
        raise ParseError(f"✗ --{name.replace('_', '-')} takes {accepted}, not {value!r}.")
    return numbers


def _checked(name: str) -> Callable[[str], Any]:
    flag = "--" + name.replace("_", "-")

    def convert(value: str) -> Any:
        if name in NUMBER_LISTS:
            whole_numbers(name, value)
            return value
        if name in CHOICES:
            if value not in CHOICES[name]:
                raise ParseError(f"✗ {flag} {value!r} is not one of: {', '.join(CHOICES[name])}.")
            return value
        if name == "tag":
            if not TAG.fullmatch(value):
                raise ParseError(
                    f"✗ {flag} {value!r} is not an image tag: Docker's rule is {TAG.pattern} "
                    "(letters, digits, _ . -; at most 128; not starting with . or -)."
                )
            return value
        low, high = RANGES.get(name, (0, None))
        accepted = f"a whole number from {low} to {high}" if high is not None else f"a whole number {low} or more"
        try:
            number = int(value)
        except ValueError:
            raise ParseError(f"✗ {flag} takes {accepted}, not {value!r}.") from None
        if number < low or (high is not None and number > high):
            raise ParseError(f"✗ {flag} takes {accepted}, not {number}.")
        return number

    return convert


class CheckedArgument(Argument):
    """An Invoke argument whose value is converted by `check` (raising ParseError) when parsed."""

    def __init__(self, check: Callable[[str], Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check

    def set_value(self, value: Any, cast: bool = True) -> None:
        if cast and self.check is not None and isinstance(value, str):
            value = self.check(value)
        super().set_value(value, cast=cast)


class StandIn(Argument):
    """A flag that, once given, fills the positional argument it stands in for with "" (STANDS_IN)."""

    def __init__(self, fills: Argument, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fills = fills

    def set_value(self, value: Any, cast: bool = True) -> None:
        super().set_value(value, cast=cast)
        if self.fills.value is None:
            self.fills.set_value("", cast=False)


def checked(arguments: list[Argument]) -> list[Argument]:
    """`arguments`, with each whole number, choice and tag checked as it is parsed, and stand-ins linked."""
    by_name = {arg.name.replace("-", "_"): arg for arg in arguments}
    result = []
    for arg in arguments:
        name = arg.name.replace("-", "_")
        if name in STANDS_IN and STANDS_IN[name] in by_name:
            arg = StandIn(
                fills=by_name[STANDS_IN[name]],
                names=arg.names,
                kind=arg.kind,
                default=arg.default,
                help=arg.help,
                attr_name=arg.attr_name,
            )
        if arg.kind is int or (arg.kind is str and (name in CHOICES or name in NUMBER_LISTS or name == "tag")):
            arg = CheckedArgument(
                check=_checked(name),
                names=arg.names,
                kind=arg.kind,
                default=arg.default,
                help=arg.help,
                positional=arg.positional,
                optional=arg.optional,
                incrementable=arg.incrementable,
                attr_name=arg.attr_name,
            )
        result.append(arg)
    return result


class Task(invoke.Task):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # Invoke's own `inv --dry TASK` only stubs Context.run, which these tasks
        # do not use: make it mean --dry-run, so it never runs anything for real.
        context = args[0] if args else None
        dry = context is not None and bool(context.config.get("run", {}).get("dry"))
        if dry and "dry_run" in inspect.signature(self.body).parameters:
            kwargs["dry_run"] = True
        return super().__call__(*args, **kwargs)

    def arg_opts(self, name: str, default: str, taken_names: set[str]) -> dict[str, Any]:
        if name == "dry_run":
            opts = super().arg_opts(name, default, taken_names | set(DRY_RUN_SHORT))
            opts["names"] = ["dry-run", DRY_RUN_SHORT]
            return opts
        opts = super().arg_opts(name, default, taken_names | {DRY_RUN_SHORT})
        # Invoke takes a flag's type from its default; a required one has none, so its annotation says.
        if "kind" not in opts and inspect.get_annotations(self.body, eval_str=True).get(name) is int:
            opts["kind"] = int
        return opts

    def get_arguments(self, ignore_unknown_help: bool | None = None) -> list[Argument]:
        # Invoke pops help texts as it uses them; keep them for the next call (help, tests).
        texts = dict(self.help)
        try:
            return checked(super().get_arguments(ignore_unknown_help))
        finally:
            self.help = texts


task = functools.partial(invoke.task, klass=Task)
