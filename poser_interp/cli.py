"""The `poser-interp` command line: thin wrappers over library functions.

Heavy modules (torch, transformer-lens) are imported inside commands, never at start-up, so
`poser-interp --help` answers fast. Bad input becomes one red line and exit code 2.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from poser_interp.errors import PoserInputError

app = typer.Typer(name="poser-interp", no_args_is_help=True, rich_markup_mode="rich",
                  help="Catch alignment-faking language models from their internals.")
data_app = typer.Typer(no_args_is_help=True, help="Scenario data: generate the built-in set, show records.")
app.add_typer(data_app, name="data")

console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def clean_errors(fn: F) -> F:
    """Turn PoserInputError into one line on stderr and exit code 2, with no traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PoserInputError as err:
            err_console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None

    return wrapper  # type: ignore[return-value]


if __name__ == "__main__":
    app()
