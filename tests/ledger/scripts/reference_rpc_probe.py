# mypy: ignore-errors
# (it runs under the reference venv: solana 0.36 / solders 0.26, not ours)
"""Run under the reference implementation's python (solana 0.36 / solders 0.26): make the RPC calls
solana-pay-kit's session server makes, against the URL on argv[1], and print what came back.

stdin: {"secret": base58 64-byte keypair (funded), "mint": base58}. stdout: one JSON object.
"""

import asyncio
import json
import sys

from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solana.rpc.types import TxOpts
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction


async def probe(url: str, secret: str, mint: str) -> dict:
    payer = Keypair.from_base58_string(secret)
    async with AsyncClient(url, commitment=Confirmed) as client:
        latest = await client.get_latest_blockhash(Confirmed)
        slot = (await client.get_slot(Confirmed)).value
        receiver = Keypair().pubkey()
        ix = transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=receiver, lamports=2_000_000))
        message = Message.new_with_blockhash([ix], payer.pubkey(), latest.value.blockhash)
        tx = VersionedTransaction(message, [payer])
        opts = TxOpts(skip_preflight=False, preflight_commitment=Confirmed)
        signature = (await client.send_raw_transaction(bytes(tx), opts)).value
        statuses = (await client.get_signature_statuses([signature], search_transaction_history=False)).value
        account = (await client.get_account_info(receiver, commitment="confirmed")).value
        mint_account = (await client.get_account_info(Pubkey.from_string(mint), commitment="confirmed")).value
        try:
            await client.send_raw_transaction(bytes(tx), opts)
            replay = "accepted"
        except Exception as exc:  # the reference sees what a real cluster would send
            replay = type(exc).__name__ + ": " + str(exc)[:300]
    status = statuses[0]
    return {"blockhash": str(latest.value.blockhash), "contextSlot": latest.context.slot,
            "lastValidBlockHeight": latest.value.last_valid_block_height, "slot": slot,
            "signature": str(signature),
            "status": {"err": status.err, "confirmation": str(status.confirmation_status)},
            "receiver": {"lamports": account.lamports, "owner": str(account.owner)},
            "mint": {"owner": str(mint_account.owner), "length": len(mint_account.data)}, "replay": replay}


request = json.loads(sys.stdin.read())
print(json.dumps(asyncio.run(probe(sys.argv[1], request["secret"], request["mint"])), default=str))
