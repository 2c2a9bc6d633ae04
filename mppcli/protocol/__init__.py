"""mppcli.protocol"""
