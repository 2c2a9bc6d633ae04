"""`mpp doctor`: versions, keyring, paths, config, RPC, wallets and channels needing attention."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mppcli.cli.env import Env
from mppcli.cli.options import JsonOpt, RpcUrlOpt
from mppcli.cli.output import Outcome
from mppcli.cli.runtime import run

if TYPE_CHECKING:
    from mppcli.doctor import Report

MARKS = {"ok": "ok", "warn": "WARN", "fail": "FAIL", "skip": "skip"}


def doctor_cmd(
    ctx: typer.Context,
    url: RpcUrlOpt = None,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, metavar="SECS",
                                           help="Time limit for each keyring and RPC probe.")] = 5.0,
    json: JsonOpt = False,
) -> None:
    """Check this installation and show what needs attention.

    Versions, the OS keyring (a write-read-delete probe under a throwaway name), paths and their
    permissions, config, the RPC and its cluster, wallets, and channels that need attention
    (unconfirmed opens, unfinished closes, grace periods). Never shows a secret.

    The whole report is printed either way (--json: `healthy` says whether any check failed).
    Exit status: 0 when no check FAILs; 3 when only the RPC check fails (unreachable); 2 when
    any other check fails (keyring, config, paths, versions, wallets, channels).
    """

    def action(env: Env) -> Outcome | None:
        from mppcli.cli.output import render_outcome
        from mppcli.doctor import DoctorInput, run_doctor

        report = run_doctor(DoctorInput(env.paths, env.environ, url, timeout, env.clock()))
        data: dict[str, object] = {"healthy": report.healthy}
        data.update({check.name: check.to_json() for check in report.checks})
        outcome = Outcome(data, human=render(report))
        if report.healthy:
            return outcome
        render_outcome(env, outcome)
        raise typer.Exit(exit_status(report))

    run(ctx, json, action)


def exit_status(report: Report) -> int:
    """Non-zero when a check FAILs, so scripts and CI can rely on `mpp doctor`."""
    from mppcli.errors import ExitStatus

    failed = {check.name for check in report.checks if check.status == "fail"}
    if not failed:
        return int(ExitStatus.OK)
    return int(ExitStatus.NETWORK if failed == {"rpc"} else ExitStatus.USAGE)


def render(report: Report) -> str:
    """One line per check (`[ok]   keyring  ...`), with the hint under anything not ok."""
    checks = report.checks
    width = max(len(check.name) for check in checks)
    lines = []
    for check in checks:
        lines.append(f"[{MARKS[check.status]}]".ljust(7) + f"{check.name.ljust(width)}  {check.summary}")
        if check.hint and check.status != "ok":
            lines.append(" " * (9 + width) + f"hint: {check.hint}")
    verdict = "healthy" if report.healthy else "problems found"
    return "\n".join([*lines, f"mpp doctor: {verdict}"])


def register(app: typer.Typer) -> None:
    """Add `mpp doctor` to `app`."""
    app.command("doctor")(doctor_cmd)
