"""mppcli.server"""
