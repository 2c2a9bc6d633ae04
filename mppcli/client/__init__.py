"""mppcli.client"""
