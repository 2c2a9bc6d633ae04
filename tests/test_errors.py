"""Every MppError has a documented exit code and a stable E_ code."""

from __future__ import annotations

from mppcli import errors


def _all_subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_all_subclasses(sub))
    return found


def test_every_error_class_has_a_documented_exit_code_and_code() -> None:
    classes = _all_subclasses(errors.MppError)
    assert len(classes) >= 14
    for cls in classes:
        assert cls.exit_code in errors.EXIT_CODES, cls
        assert cls.code.startswith("E_"), cls


def test_channel_context_names_the_channel() -> None:
    try:
        with errors.channel_context("Chan1"):
            raise errors.PaymentRejected("no")
    except errors.MppError as exc:
        assert exc.channel_id == "Chan1"
        assert exc.to_json()["channelId"] == "Chan1"


def test_the_readme_exit_table_is_the_one_in_errors() -> None:
    """README's exit-status table lists exactly ExitStatus, and each E_ code under its class's status."""
    import re

    from tests.support import REPO

    rows = re.findall(r"^\| (\d+) \| (.*?) \|", (REPO / "README.md").read_text(), re.MULTILINE)
    assert {int(status) for status, _ in rows} == set(errors.ExitStatus)
    documented = {code: int(status) for status, codes in rows for code in re.findall(r"E_[A-Z_]+", codes)}
    assert documented == {cls.code: int(cls.exit_code) for cls in _all_subclasses(errors.MppError)}
