"""mppcli.wallet"""
