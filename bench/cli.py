"""`python -m bench [OPTIONS]`: the harness's command line (`gomeet bench` forwards here)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from bench import SCENARIOS

app = typer.Typer(add_completion=False)


@app.command()
def bench(
    quick: Annotated[bool, typer.Option("--quick", help="small and short: under 2 min")] = False,
    json_file: Annotated[
        Path | None, typer.Option("--json", metavar="FILE", help="write the results as JSON")
    ] = None,
    scenario: Annotated[
        list[str] | None,
        typer.Option(
            "--scenario",
            metavar="NAME",
            help=f"{', '.join(SCENARIOS)} (repeatable; default all)",
        ),
    ] = None,
    docs: Annotated[
        bool | None,
        typer.Option(
            "--docs/--no-docs",
            help="write docs/benchmarks.md and its plots (default: on for a full run)",
        ),
    ] = None,
    docs_dir: Annotated[Path | None, typer.Option(help="where docs are written")] = None,
) -> None:
    """The benchmark harness: ours vs raw redis-py, cashews, aiocache; cached vs uncached API;
    ours vs a bare FastAPI app doing the same work."""
    from bench.main import default_docs_dir, run_bench

    unknown = sorted(set(scenario or ()) - set(SCENARIOS))
    if unknown:
        raise typer.BadParameter(
            f"unknown scenario {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}",
            param_hint="--scenario",
        )
    run_bench(
        quick=quick,
        scenarios=scenario or list(SCENARIOS),
        json_path=json_file,
        docs=(not quick) if docs is None else docs,
        docs_dir=docs_dir or default_docs_dir(),
        command=_command,
        log=lambda line: typer.echo(line, err=True),
    )


_command = "python -m bench"  # the command line as typed, recorded in the results


def main(args: Sequence[str] | None = None, *, program: str = "python -m bench") -> None:
    """Run the command line on `args` (default: sys.argv[1:]) as `program`."""
    global _command
    argv = list(sys.argv[1:] if args is None else args)
    _command = " ".join([program, *argv])
    app(args=argv, prog_name=program)
