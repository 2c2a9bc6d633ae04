"""The one seam to the OS keyring: time-boxed calls, every failure turned into `KeyringError`.

Why a thread per call: a Secret Service whose collection is locked may open an unlock prompt and
wait forever; a CLI must not hang with it. Each call runs in a daemon thread and is abandoned
after `timeout` seconds (the thread cannot be killed, but it no longer keeps `mpp` alive).
`keyring` is imported inside the call so `mpp --help` never loads it.

Error messages never carry a secret: anything the backend says is scrubbed of the value that
was being stored before it is shown.
"""

from __future__ import annotations

import os
import platform
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from mppcli.errors import KeyringError

T = TypeVar("T")

DEFAULT_TIMEOUT = 10.0
TIMEOUT_ENV = "MPP_KEYRING_TIMEOUT"


def install_hint() -> str:
    """What to do when there is no usable keyring on this OS."""
    use_file = "or use a solana-keygen keypair file instead: -k/--keypair FILE"
    if platform.system() != "Linux":
        return f"Check that the system keychain is unlocked and reachable, {use_file}."
    return ("Install and start a Secret Service: `sudo apt-get install gnome-keyring dbus-user-session` "
            "(or your desktop's keyring), run inside a D-Bus session with the keyring unlocked "
            "(headless: dbus-run-session -- sh -c 'printf PASSWORD | gnome-keyring-daemon --unlock "
            f"--components=secrets; exec $SHELL'), {use_file}. mpp never stores keys in plain files.")


class SecretStore:
    """get/set/delete of secrets under one keyring service name."""

    def __init__(self, service: str, timeout: float | None = None):
        self.service = service
        self.timeout = timeout if timeout is not None else _timeout_from_env()

    def get(self, account: str) -> str | None:
        def read(kr: Any) -> str | None:
            value = kr.get_password(self.service, account)
            return value if isinstance(value, str) else None
        return self._call("read", read)

    def set(self, account: str, secret: str) -> None:
        self._call("write", lambda kr: kr.set_password(self.service, account, secret), secret)

    def delete(self, account: str) -> bool:
        """Remove an entry; False when there was none."""
        def delete(kr: Any) -> bool:
            import keyring.errors

            if kr.get_password(self.service, account) is None:
                return False
            try:
                kr.delete_password(self.service, account)
            except keyring.errors.PasswordDeleteError:
                return False
            return True
        return self._call("delete", delete)

    def backend_name(self) -> str:
        return self._call("inspect", lambda kr: f"{type(kr).__module__}.{type(kr).__name__}")

    def _call(self, what: str, action: Callable[[Any], T], secret: str | None = None) -> T:
        box: dict[str, object] = {}

        def work() -> None:
            try:
                import keyring

                box["value"] = action(keyring.get_keyring())
            except BaseException as exc:
                box["error"] = exc

        thread = threading.Thread(target=work, name=f"mpp-keyring-{what}", daemon=True)
        thread.start()
        thread.join(self.timeout)
        if thread.is_alive():
            hint = f"Unlock the keyring and retry, or raise {TIMEOUT_ENV}. {install_hint()}"
            raise KeyringError(f"the OS keyring did not answer within {self.timeout:g} s "
                               "(it may be locked and waiting for an unlock prompt)", hint=hint)
        if "error" in box:
            raise _translate(what, box["error"], secret)  # type: ignore[arg-type]
        return box["value"]  # type: ignore[return-value]


def _timeout_from_env() -> float:
    text = os.environ.get(TIMEOUT_ENV, "")
    try:
        value = float(text)
    except ValueError:
        return DEFAULT_TIMEOUT
    return value if value > 0 else DEFAULT_TIMEOUT


def _translate(what: str, exc: BaseException, secret: str | None) -> KeyringError:
    detail = _scrub(f"{type(exc).__name__}: {exc}", secret)
    if type(exc).__name__ == "NoKeyringError":
        message = "no OS keyring is available (keyring found no usable backend)"
    else:
        message = f"the OS keyring failed to {what} a key ({detail})"
    error = KeyringError(message, hint=install_hint())
    error.__cause__ = None
    return error


def _scrub(text: str, secret: str | None) -> str:
    if secret:
        text = text.replace(secret, "[secret]")
    return text[:300]
