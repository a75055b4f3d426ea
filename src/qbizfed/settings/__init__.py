"""Every setting qbizfed reads, from one TOML file or the environment, checked on load.

One module per section of the file and per source:

* :mod:`~qbizfed.settings.toml_file` - strict table reading (unknown keys, wrong types),
* :mod:`~qbizfed.settings.oidc` - the one OIDC registration type (admin, serve, login, doctor),
* :mod:`~qbizfed.settings.saml` - the one SAML IdP type (admin, serve, doctor),
* :mod:`~qbizfed.settings.stack` - ``admin``'s stack (top level, ``[oidc]``, ``[saml]``,
  ``[application]``),
* :mod:`~qbizfed.settings.serve` - ``[serve]`` with ``[serve.oidc]``, ``[serve.saml]``,
  ``[serve.chat]`` and ``[serve.sessions]``,
* :mod:`~qbizfed.settings.chat` - the chat pages' section,
* :mod:`~qbizfed.settings.profiles` - ``[profiles.NAME]`` of ``login``/``creds``,
* :mod:`~qbizfed.settings.environment` - the one adapter for the AWS samples' variables
  and the ``QBIZFED_*`` ones.

``cli/`` hands the environment to these loaders; the web broker gets the result as
values and reads no environment at all (``tests/unit/test_architecture.py``).
"""
