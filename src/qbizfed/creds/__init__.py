"""CLI credentials: profiles, the private on-disk cache, refresh, and the
``credential_process`` fast path.

Modules imported by the fast path (``locations``, ``securefile``, ``record``,
``output``, ``fast``) must stay light: standard library only, no ``typing``,
``dataclasses``, boto3, Typer or Rich at import time.
"""
