"""``DevIdp``: the dev identity provider running on loopback in a background thread.

    idp = DevIdp(DevIdpSettings(port=0)).start()
    idp.issuer              # http://127.0.0.1:PORT  (OIDC issuer = base URL)
    idp.saml_metadata_url   # http://127.0.0.1:PORT/saml/metadata
    idp.register_client(OidcClient(...)); idp.register_service_provider(ServiceProvider(...))
    idp.stop()

It refuses to bind to a non-loopback address unless ``allow_non_loopback`` is set.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from qbizfed.errors import LocalStackError
from qbizfed.local.idp.app import IdpApp, IdpEndpoints
from qbizfed.local.idp.device import DeviceFlowSettings
from qbizfed.local.idp.grants import Clock
from qbizfed.local.idp.keys import SigningMaterial, load_or_create_signing_material
from qbizfed.local.idp.oidc import TokenLifetimes
from qbizfed.local.idp.saml_response import AssertionLifetimes
from qbizfed.local.idp.users import Directory, OidcClient, ServiceProvider, load_directory
from qbizfed.local.loopback import is_loopback_host

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse


@dataclass(frozen=True)
class DevIdpSettings:
    host: str = "127.0.0.1"
    port: int = 9000
    users_file: Path | None = None
    """TOML file with users, clients and service providers (demo users if None)."""
    state_dir: Path | None = None
    """Where the signing key and certificate are kept between runs (fresh if None)."""
    allow_non_loopback: bool = False
    clients: tuple[OidcClient, ...] = ()
    service_providers: tuple[ServiceProvider, ...] = ()
    token_lifetimes: TokenLifetimes = field(default_factory=TokenLifetimes)
    assertion_lifetimes: AssertionLifetimes = field(default_factory=AssertionLifetimes)
    device_flow: DeviceFlowSettings = field(default_factory=DeviceFlowSettings)
    """Device sign-in (RFC 8628): code lifetime and polling interval."""


class _QuietHandler(WSGIRequestHandler):
    """No access log: authorization requests and responses are nobody's business."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


class DevIdp:
    """The running dev IdP. ``start()`` returns once it accepts requests."""

    def __init__(
        self,
        settings: DevIdpSettings | None = None,
        *,
        directory: Directory | None = None,
        keys: SigningMaterial | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.settings = settings or DevIdpSettings()
        if not is_loopback_host(self.settings.host) and not self.settings.allow_non_loopback:
            raise LocalStackError(
                f"refusing to serve the dev IdP on {self.settings.host}: it signs in anyone "
                "who knows the demo password",
                remedy="bind to 127.0.0.1 (the default), or pass --allow-non-loopback if you "
                "really mean to expose it",
            )
        self.directory = directory or load_directory(self.settings.users_file)
        for client in self.settings.clients:
            self.directory.register_client(client)
        for sp in self.settings.service_providers:
            self.directory.register_service_provider(sp)
        self.keys = keys or load_or_create_signing_material(self.settings.state_dir)
        self._clock = clock
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._app: IdpApp | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> DevIdp:
        host, port = self.settings.host, self.settings.port
        try:
            server = make_server(
                host, port, self._dispatch, threaded=True, request_handler=_QuietHandler
            )
        except (OSError, SystemExit) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "address in use"
            raise LocalStackError(
                f"cannot listen on {host}:{port}: {reason}",
                remedy="stop whatever uses that port, or pass --port with another one "
                "(0 picks a free one)",
            ) from exc
        bound_port = int(server.server_address[1])
        shown_host = f"[{host}]" if ":" in host else host
        endpoints = IdpEndpoints(base_url=f"http://{shown_host}:{bound_port}")
        self._app = IdpApp(
            endpoints=endpoints,
            keys=self.keys,
            directory=self.directory,
            token_lifetimes=self.settings.token_lifetimes,
            assertion_lifetimes=self.settings.assertion_lifetimes,
            device_flow=self.settings.device_flow,
            clock=self._clock,
        )
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() returns within 50 ms
            name="qbizfed-dev-idp",
            daemon=True,
        )
        self._thread.start()
        return self

    def _dispatch(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        assert self._app is not None
        return self._app(environ, start_response)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> DevIdp:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- where it is -----------------------------------------------------------------

    @property
    def endpoints(self) -> IdpEndpoints:
        if self._app is None:
            raise LocalStackError("the dev IdP is not started", remedy="call start()")
        return self._app.endpoints

    @property
    def url(self) -> str:
        return self.endpoints.base_url

    @property
    def issuer(self) -> str:
        return self.endpoints.issuer

    @property
    def port(self) -> int:
        if self._server is None:
            raise LocalStackError("the dev IdP is not started", remedy="call start()")
        return int(self._server.server_address[1])

    @property
    def discovery_url(self) -> str:
        return self.endpoints.discovery_url

    @property
    def saml_metadata_url(self) -> str:
        return self.endpoints.saml_metadata_url

    @property
    def saml_entity_id(self) -> str:
        return self.endpoints.saml_entity_id

    @property
    def saml_sso_url(self) -> str:
        return self.endpoints.saml_sso_url

    @property
    def saml_metadata_xml(self) -> str:
        if self._app is None:
            raise LocalStackError("the dev IdP is not started", remedy="call start()")
        return self._app.metadata_xml.decode("utf-8")

    @property
    def certificate_pem(self) -> str:
        return self.keys.certificate_pem

    # -- runtime registration --------------------------------------------------------

    def register_client(self, client: OidcClient) -> None:
        """Add or replace an OIDC client (e.g. the web app's callback, at startup)."""
        self.directory.register_client(client)

    def register_service_provider(self, sp: ServiceProvider) -> None:
        """Add or replace a SAML service provider (entity ID, ACS URLs, Role attribute)."""
        self.directory.register_service_provider(sp)
