"""mppcli.ledger"""
