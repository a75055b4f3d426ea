"""The signed-in user of a qbizfed profile, as the chat library's :class:`ChatClient`.

The MCP server acts only as this user: every call uses the credentials ``qbizfed
login`` cached for the profile, renewed silently with the refresh token exactly as
``qbizfed creds`` does (:func:`qbizfed.creds.refresh.current_credentials`). When there
are none, or they expired without a refresh token, :class:`LoginRequiredError` says
"run: qbizfed login --profile NAME". The credentials stay in this process: nothing
here returns them, and the tools only return Q Business answers.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

from qbizfed.aws.chat import RETRY_CONFIG, ChatClient
from qbizfed.credentials import AwsCredentials
from qbizfed.creds.refresh import Renewal, current_credentials
from qbizfed.errors import ConfigError
from qbizfed.settings.profiles import Profile, load_profile

APP_ID_ENV = "QBUSINESS_APPLICATION_ID"

CredentialSource = Callable[[str], Renewal]
ClientFactory = Callable[[AwsCredentials, Profile, str], ChatClient]


def boto3_chat_client(creds: AwsCredentials, profile: Profile, application_id: str) -> ChatClient:
    """A chat client on exactly these credentials (never the environment's or a profile's)."""
    import boto3

    session = boto3.session.Session(**creds.boto3_session_kwargs(), region_name=profile.region)
    client = session.client("qbusiness", endpoint_url=profile.endpoint_url, config=RETRY_CONFIG)
    return ChatClient(qbusiness=client, application_id=application_id)


@dataclass(frozen=True)
class ServedProfile:
    """Which profile and application the server speaks for (no secrets)."""

    profile: Profile
    application_id: str


def resolve_profile(name: str, application_id: str | None = None) -> ServedProfile:
    """The profile (unknown → :class:`ConfigError` naming the fix) and its application."""
    profile = load_profile(name)
    app = application_id or profile.application_id or os.environ.get(APP_ID_ENV, "")
    if not app:
        raise ConfigError(
            f"profile {name!r} names no Q Business application",
            remedy=f"pass --app-id, set {APP_ID_ENV}, or rewrite the profile with "
            f"qbizfed configure --profile {name} --application-id ...",
        )
    return ServedProfile(profile=profile, application_id=app)


class ProfileUser:
    """The profile's user; :meth:`chat` gives a client on current credentials.

    The client is rebuilt only when the credentials change (after a refresh or a new
    ``qbizfed login``), so a tool call costs one cache read, not a new boto3 client.
    """

    def __init__(
        self,
        served: ServedProfile,
        *,
        credentials: CredentialSource = current_credentials,
        client_factory: ClientFactory = boto3_chat_client,
        retriever_id: str | None = None,
    ) -> None:
        self.served = served
        self._credentials = credentials
        self._factory = client_factory
        self._lock = threading.Lock()
        self._client: ChatClient | None = None
        self._client_key: str | None = None
        self._retriever_id = retriever_id

    @property
    def profile_name(self) -> str:
        return self.served.profile.name

    def chat(self) -> ChatClient:
        """A client for the signed-in user, or :class:`LoginRequiredError` with the fix."""
        renewal = self._credentials(self.profile_name)
        creds = renewal.entry.credentials
        with self._lock:
            if self._client is None or self._client_key != creds.access_key_id:
                self._client = self._factory(creds, self.served.profile, self.served.application_id)
                self._client_key = creds.access_key_id
            return self._client

    def retriever_id(self) -> str:
        """The retriever ``search`` uses: given, or the application's first one."""
        if self._retriever_id is None:
            found = self.chat().retriever_ids()
            if not found:
                raise ConfigError(
                    f"application {self.served.application_id} has no retriever to search",
                    remedy="ask the administrator to add an index and retriever "
                    "(qbizfed admin apply), or pass --retriever-id",
                )
            self._retriever_id = found[0]
        return self._retriever_id
