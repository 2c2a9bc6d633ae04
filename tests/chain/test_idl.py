"""The project's IDL: where it is loaded from, and that it is internally consistent."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from mppcli.chain import idl as idl_module
from mppcli.chain.borsh import INT_FORMATS
from mppcli.chain.idl import FixedBytes, Named, Prim, StructDef, load_idl

REPO = Path(__file__).resolve().parents[2]


def test_checkout_reads_the_repository_idl() -> None:
    idl = load_idl()
    assert Path(idl.source) == REPO / "idl" / idl_module.IDL_FILE
    assert idl.program_id == "CHNLxYvVA28MJP9PrFuDXccuoGXAx7jBacfLEkahyGsX"


def test_an_installed_package_reads_its_own_copy(tmp_path: Path) -> None:
    """A wheel puts idl/ at mppcli/_idl (pyproject force-include); the loader must prefer it."""
    site = tmp_path / "site"
    shutil.copytree(REPO / "mppcli", site / "mppcli", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "idl", site / "mppcli" / "_idl")
    script = ("from mppcli.chain.idl import load_idl; import mppcli; "
              "print(load_idl().source); print(mppcli.__file__)")
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}, check=True).stdout.split()
    assert out[1].startswith(str(site)), out
    assert out[0] == str(site / "mppcli" / "_idl" / idl_module.IDL_FILE)


def test_pyproject_ships_the_idl_inside_the_wheel() -> None:
    text = (REPO / "pyproject.toml").read_text()
    assert '"idl" = "mppcli/_idl"' in text


def _size(t: object) -> int:
    if isinstance(t, Prim):
        return 32 if t.name == "pubkey" else INT_FORMATS[t.name][0]
    if isinstance(t, FixedBytes):
        return t.size
    assert isinstance(t, Named)
    return 1  # enums are one byte


def test_channel_fields_are_contiguous_and_fill_the_account() -> None:
    layout = load_idl().accounts["channel"]
    offset = 0
    for field in layout.fields:
        assert field.offset == offset, field
        offset += _size(field.type)
    assert offset == layout.size == load_idl().constants["channelAccountSize"] == 256


def test_discriminators_and_error_codes_are_unique() -> None:
    idl = load_idl()
    discriminators = [ix.discriminator for ix in idl.instructions.values()]
    assert len(set(discriminators)) == len(discriminators) == 10
    assert len(idl.errors) == len(json.loads((REPO / "idl" / idl_module.IDL_FILE).read_text())["errors"])


def test_every_derivation_names_something_that_exists() -> None:
    idl = load_idl()
    for ix in idl.instructions.values():
        names = {a.name for a in ix.accounts}
        fields = {f for _, t in ix.args if isinstance(t, Named)
                  for f, _ in _struct_fields(idl.types[t.name])}
        specs = list(ix.accounts) + ([ix.remaining] if ix.remaining else [])
        for spec in specs:
            d = spec.derive
            if d is None:
                continue
            if d.kind == "address":
                assert d.target == "self" or d.target in idl.addresses, (ix.name, spec.name)
                continue
            seeds = [s.value for s in idl.pdas[d.target].seeds if s.kind != "utf8"]
            local = {"recipient"} if spec is ix.remaining else set()
            for seed in seeds:
                source = d.sources.get(seed, seed)
                if source.startswith("@"):
                    assert source[1:] in idl.addresses, (ix.name, spec.name, seed)
                else:
                    assert source in names | fields | local, (ix.name, spec.name, seed)


def _struct_fields(body: object) -> tuple[tuple[str, object], ...]:
    assert isinstance(body, StructDef)
    return body.fields
