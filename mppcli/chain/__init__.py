"""mppcli.chain"""
