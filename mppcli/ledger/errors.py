"""Transaction failures in Solana's own shapes, and the text Solana prints for them.

`err` values are the JSON forms the RPC returns (`"BlockhashNotFound"`,
`{"InstructionError": [2, {"Custom": 2003}]}`), kept as plain JSON so they can be stored,
returned and compared as they are.
"""

from __future__ import annotations

from typing import Any

TxErr = Any  # a TransactionError in its JSON form

_TX_TEXT = {
    "AccountInUse": "Account in use",
    "AccountNotFound": "Attempt to debit an account but found no record of a prior credit.",
    "AlreadyProcessed": "This transaction has already been processed",
    "BlockhashNotFound": "Blockhash not found",
    "InsufficientFundsForFee": "Insufficient funds for fee",
    "InvalidAccountForFee": "This account may not be used to pay transaction fees",
    "SignatureFailure": "Transaction did not pass signature verification",
    "SanitizeFailure": "Transaction failed to sanitize accounts offsets correctly",
    "AddressLookupTableNotFound": "Transaction loads an address table account that doesn't exist",
    "InvalidAddressLookupTableIndex": "Transaction address table lookup uses an invalid index",
    "UnsupportedVersion": "Transaction version is unsupported",
}

_IX_TEXT = {
    "GenericError": "generic instruction error",
    "InvalidArgument": "invalid program argument",
    "InvalidInstructionData": "invalid instruction data",
    "InvalidAccountData": "invalid account data for instruction",
    "AccountDataTooSmall": "account data too small for instruction",
    "InsufficientFunds": "insufficient funds for instruction",
    "IncorrectProgramId": "incorrect program id for instruction",
    "MissingRequiredSignature": "missing required signature for instruction",
    "AccountAlreadyInitialized": "instruction requires an uninitialized account",
    "UninitializedAccount": "instruction requires an initialized account",
    "NotEnoughAccountKeys": "insufficient account keys for instruction",
    "InvalidSeeds": "Provided seeds do not result in a valid address",
    "UnsupportedProgramId": "Unsupported program id",
    "InvalidAccountOwner": "Invalid account owner",
    "ArithmeticOverflow": "Program arithmetic overflowed",
    "ProgramFailedToComplete": "Program failed to complete",
    "ImmutableInstruction": "instruction modified data of a read-only account",
}


class TransactionFailed(Exception):
    """A transaction that cannot be applied; `err` is Solana's JSON form of the reason."""

    def __init__(self, err: TxErr, logs: list[str] | None = None, units: int = 0) -> None:
        super().__init__(describe_tx_error(err))
        self.err = err
        self.logs = list(logs or [])
        self.units = units


def instruction_error(index: int, error: TxErr) -> dict[str, Any]:
    return {"InstructionError": [index, error]}


def custom_error(index: int, code: int) -> dict[str, Any]:
    return instruction_error(index, {"Custom": code})


def describe_instruction_error(error: TxErr) -> str:
    if isinstance(error, dict) and "Custom" in error:
        return f"custom program error: {int(error['Custom']):#x}"
    if isinstance(error, str):
        return _IX_TEXT.get(error, error)
    return str(error)


def describe_tx_error(err: TxErr) -> str:
    """The Display text Solana uses, e.g. `Error processing Instruction 1: custom program error: 0x7d3`."""
    if isinstance(err, dict) and "InstructionError" in err:
        index, inner = err["InstructionError"]
        return f"Error processing Instruction {index}: {describe_instruction_error(inner)}"
    if isinstance(err, dict) and "InsufficientFundsForRent" in err:
        index = err["InsufficientFundsForRent"].get("account_index")
        return f"Transaction results in an account ({index}) with insufficient funds for rent"
    if isinstance(err, str):
        return _TX_TEXT.get(err, err)
    return str(err)
