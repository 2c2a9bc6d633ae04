"""The payment-channels program v2 (CHNLx...), modelled in Python for the embedded ledger.

Layouts come from `mppcli.chain` (the IDL); rules and error codes follow the deployed build. Every
token movement is a real SPL Token / Token-2022 instruction run in LiteSVM, every lamport movement
conserves lamports, and a failure anywhere undoes the whole transaction (the executor's journal).
"""
