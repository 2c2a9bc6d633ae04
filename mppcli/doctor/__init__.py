"""`mpp doctor`: what this installation is, and what needs the user's attention.

Each probe returns a `Check` and never raises: a broken keyring, config or RPC is the very thing
doctor exists to report. Probes that talk to something (keyring, RPC) are time-boxed. Nothing here
reads, prints or logs a secret: the keyring probe writes a random throwaway value under its own
account name and deletes it again.

    report = run_doctor(DoctorInput(paths, environ, rpc_flag=None, timeout=5.0, now=time.time()))
    report.healthy, [c.to_json() for c in report.checks]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

from mppcli.doctor.checks import Check, DoctorInput, Report, Status
from mppcli.errors import InternalError

T = TypeVar("T")
_NO_FALLBACK: Any = object()
__all__ = ["Check", "DoctorInput", "Report", "Status", "guarded", "run_doctor"]


def run_doctor(given: DoctorInput) -> Report:
    """Run every probe, local ones first; the RPC probe feeds the channel check."""
    from mppcli.doctor import local, remote

    config, settings = guarded("config", lambda: local.check_config(given), None)
    rpc, cluster = guarded("rpc", lambda: remote.check_rpc(given, local.rpc_url_of(given, settings)), None)
    checks = (
        guarded("versions", local.check_versions),
        guarded("keyring", lambda: local.check_keyring(given)),
        guarded("paths", lambda: local.check_paths(given.paths)),
        config,
        rpc,
        guarded("wallets", lambda: local.check_wallets(given, settings)),
        guarded("channels", lambda: remote.check_channels(given, cluster)),
    )
    return Report(checks)


@overload
def guarded(name: str, probe: Callable[[], Check]) -> Check: ...
@overload
def guarded(name: str, probe: Callable[[], tuple[Check, T]], fallback: T) -> tuple[Check, T]: ...


def guarded(name: str, probe: Callable[[], Any], fallback: Any = _NO_FALLBACK) -> Any:
    """Run one probe; a bug inside it becomes a failed check instead of hiding the whole report."""
    try:
        return probe()
    except Exception as exc:
        failed = Check(name, "fail", f"the {name} probe crashed: {type(exc).__name__}: {exc}",
                       hint=InternalError.default_hint)
        return failed if fallback is _NO_FALLBACK else (failed, fallback)
