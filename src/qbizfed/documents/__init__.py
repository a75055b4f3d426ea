"""Documents and groups for a Q Business index: the public folder format and its sync."""
