"""AWS-facing logic: provisioning, STS exchange, and the Q Business conversation client."""
