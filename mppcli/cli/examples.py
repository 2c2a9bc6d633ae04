"""Worked examples for each man page (`scripts/gen-man` renders them as EXAMPLES sections).

Keyed by page name (`mpp` for the root page, `mpp-NAME` for each command); a test checks that every
page has some, and that each example names its own command.
"""

from __future__ import annotations

URL = "http://127.0.0.1:8402/paid"

EXAMPLES: dict[str, tuple[tuple[str, str], ...]] = {
    "mpp": (
        ("mpp serve --port 8402", "A server on the embedded localnet ledger (RPC on 127.0.0.1:8899)."),
        (f"mpp request {URL}", "One paid request: body on stdout, what it paid on stderr."),
        (f"mpp -u l --json request {URL}", "Global options go before or after the command."),
    ),
    "mpp-wallet": (
        ("mpp wallet new alice", "A wallet whose key lives in the OS keyring (the first is the default)."),
        ("mpp wallet airdrop 25 --token USDC", "Test stablecoin from the localnet faucet (the default RPC)."),
        ("mpp wallet show -u l", "The default wallet's balances on localnet."),
        ("mpp wallet export alice --out alice.json --yes", "A solana-keygen file (mode 0600)."),
    ),
    "mpp-inspect": (
        (f"mpp inspect {URL}", "What the resource asks for; nothing is paid."),
        (f"mpp --json inspect {URL}", "The decoded challenges as JSON."),
    ),
    "mpp-open": (
        (f"mpp open {URL} --deposit 1 --max-spend 2", "Open a channel depositing at most 1 token."),
        (f"mpp open {URL} --dry-run", "What it would deposit; nothing is signed."),
    ),
    "mpp-request": (
        (f"mpp request {URL}", "Pay for one request (opens a channel when needed)."),
        (f"mpp request {URL} --dry-run", "What it would cost and deposit; nothing is paid."),
        (f"mpp request {URL} -f -s -m 30 -o out.json", "curl habits: -f, quiet, a time limit."),
        ("mpp request http://127.0.0.1:8402/paid --json-body '{\"q\": 1}'", "POST a JSON body."),
    ),
    "mpp-stream": (
        ("mpp stream 'http://127.0.0.1:8402/stream?chunks=50'", "Data on stdout, vouchers as metered."),
        ("mpp stream 'http://127.0.0.1:8402/stream?chunks=5' --ndjson", "One JSON object per event."),
    ),
    "mpp-topup": (
        ("mpp topup 4DR6 0.5 --yes", "Add 0.5 tokens to the channel whose id starts with 4DR6."),
    ),
    "mpp-close": (
        ("mpp close --all --yes", "Close every open channel cooperatively; each is reported."),
        ("mpp close 4DR6 --force --yes", "The payer's escape route when the server is gone."),
        ("mpp close 4DR6 --finalize", "After the grace period: collect the refund."),
    ),
    "mpp-channels": (
        ("mpp channels list --all", "Every channel this machine knows, closed ones too."),
        ("mpp channels show 4DR6", "One record (token units, local times) and its on-chain view."),
        ("mpp channels sync", "Reconcile the records with the chain."),
    ),
    "mpp-voucher": (
        ("mpp voucher sign --channel 4DR6 --amount 20000 > v.json", "Sign a cumulative voucher."),
        ("mpp voucher verify v.json", "Check its signature (exit 2 when invalid)."),
    ),
    "mpp-serve": (
        ("mpp serve --port 8402", "Demo endpoints on the embedded ledger (its RPC on 127.0.0.1:8899)."),
        ("mpp serve --price 0.02 --rpc-port 0 --ephemeral", "A throwaway server with its own prices."),
        ("mpp serve -u devnet --network devnet --operator-keypair op.json --currency USDC",
         "Serve on devnet."),
        ("mpp serve --upstream http://127.0.0.1:3000 --route 'POST /v1/*=0.01' "
         "--route 'GET /events=0.001/event'",
         "Sell an existing HTTP API: each POST under /v1/ costs 0.01, each event of /events 0.001."),
        ("mpp serve channels --json",
         "The server's channels (deposit, accepted, spent, status), while it runs."),
    ),
    "mpp-localnet": (
        ("mpp localnet", "Only the embedded ledger, on 127.0.0.1:8899."),
        ("mpp localnet --port 0 --ephemeral --json", "A throwaway ledger on a free port."),
    ),
    "mpp-doctor": (
        ("mpp doctor", "Check this installation; exits non-zero when a check FAILs."),
        ("mpp doctor --json -u l", "The report as JSON, probing localnet's RPC."),
    ),
    "mpp-completions": (
        ("mpp completions bash > ~/.local/share/bash-completion/completions/mpp", "Install for bash."),
        ("mpp completions fish > ~/.config/fish/completions/mpp.fish", "Install for fish."),
    ),
    "mpp-config": (
        ("mpp config set max_spend 2", "Cap what one command may pay or deposit."),
        ("mpp config set wallet alice", "The default wallet (the same as `mpp wallet default alice`)."),
        ("mpp config list", "Every setting, its value and where it comes from."),
    ),
}
