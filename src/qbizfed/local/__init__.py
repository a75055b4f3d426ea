"""The offline stack: local AWS (moto + federation-validating STS + Q Business
emulator) and a dev identity provider.

Nothing outside this package imports it; the rest of qbizfed reaches it over HTTP,
exactly as it reaches AWS (``AWS_ENDPOINT_URL``).
"""
