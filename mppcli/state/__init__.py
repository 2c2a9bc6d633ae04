"""mppcli.state"""
