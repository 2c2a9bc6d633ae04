"""The RPC calls of the reference implementation (solana 0.36 / solders 0.26, its own venv) work
against the ledger: getLatestBlockhash, getSlot, sendTransaction, getSignatureStatuses and
getAccountInfo parse, and a replay comes back as the preflight error a cluster sends."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.ledger.harness import SOL, Chain

SCRIPT = Path(__file__).parent / "scripts" / "reference_rpc_probe.py"
DEFAULT_REF_PYTHON = Path("/work/ref/bin/python")
pytestmark = pytest.mark.reference


def _reference_python() -> Path:
    configured = os.environ.get("MPP_REF_PYTHON")
    if configured:
        return Path(configured)
    if DEFAULT_REF_PYTHON.exists():
        return DEFAULT_REF_PYTHON
    pytest.skip("no reference implementation python (set MPP_REF_PYTHON; scripts/test creates .ref/)")


def test_the_reference_rpc_calls_work_against_the_ledger(chain: Chain, tmp_path: Path) -> None:
    python = _reference_python()
    payer = chain.fund(SOL)
    request = json.dumps({"secret": str(payer), "mint": str(chain.mint)})
    done = subprocess.run([str(python), str(SCRIPT), chain.url], input=request, capture_output=True,
                          text=True, cwd=tmp_path, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["lastValidBlockHeight"] == seen["contextSlot"] + 150 and seen["slot"] >= seen["contextSlot"]
    assert seen["status"] == {"err": None, "confirmation": "TransactionConfirmationStatus.Finalized"}
    assert seen["receiver"] == {"lamports": 2_000_000, "owner": "11111111111111111111111111111111"}
    assert seen["mint"] == {"owner": "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA", "length": 82}
    assert "already been processed" in seen["replay"]
    assert chain.lamports(payer.pubkey()) == SOL - 2_000_000 - 5000
