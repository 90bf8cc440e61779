"""The Pasqal Cloud SDK as qplan uses it: a client class that sends every request once,
its errors as plain exceptions, and the credentials read from the environment.

``OnceClient`` (made by ``once_client`` on first use: the SDK is imported lazily) sends
each request once, whatever its answer: the SDK's own client retries POST and PATCH on
5xx, which is how one ``create_batch`` call makes two batches. An error answer is
``HttpFailure`` and no answer ``NoAnswer``, neither a ``requests`` error, so the SDK's
retry decorator and its wrappers let them through to the provider, which maps them.

Credentials: ``PASQAL_TOKEN`` (a bearer token), or ``PASQAL_USERNAME`` and
``PASQAL_PASSWORD`` (the SDK's own sign-in); ``PASQAL_ENDPOINT`` points at another
deployment of the API. Tokens never reach messages (``redact``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from qplan.errors import QplanError
from qplan.manifest.models import PasqalProvider as PasqalConfig

__all__ = [
    "ENDPOINT",
    "PASSWORD",
    "TOKEN",
    "USERNAME",
    "HttpFailure",
    "NoAnswer",
    "make_sdk",
    "once_client",
    "redact",
]

TOKEN = "PASQAL_TOKEN"
USERNAME = "PASQAL_USERNAME"
PASSWORD = "PASQAL_PASSWORD"
ENDPOINT = "PASQAL_ENDPOINT"


_TOKEN_TEXT = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")


class HttpFailure(Exception):
    """An HTTP error answer. Not a ``requests.HTTPError``: the SDK's retry decorator, which
    retries those, lets it through, and so do the SDK's wrappers."""

    def __init__(self, method: str, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.method = method
        self.status = status
        self.message = message


class NoAnswer(Exception):
    """No answer: ``sent`` is False when the request never reached the service."""

    def __init__(self, method: str, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.method = method
        self.sent = sent


def once_client() -> type[Any]:
    from pasqal_cloud.http_client import HTTPClient

    class OnceClient(HTTPClient):
        """Sends every request once, whatever its answer: the SDK's own retries (up to
        five, on 5xx too, for POST and PATCH) are what make duplicate batches."""

        def _request_with_status_check(self, *args: Any, **kwargs: Any) -> Any:
            import requests

            method = str(args[0] if args else kwargs.get("method", "GET")).upper()
            try:
                response = self.session.request(*args, **kwargs)
            except requests.ConnectTimeout as exc:
                raise NoAnswer(method, f"cannot connect: {exc}", sent=False) from None
            except requests.ConnectionError as exc:
                text = str(exc)
                sent = not ("NewConnectionError" in text or "Connection refused" in text)
                raise NoAnswer(method, f"no answer: {redact(text)}", sent=sent) from None
            except requests.RequestException as exc:  # read timeout and the like
                raise NoAnswer(method, f"no answer: {redact(str(exc))}", sent=True) from None
            if response.status_code >= 400:
                raise HttpFailure(method, response.status_code, _message(response))
            return response

    return OnceClient


def _message(response: Any) -> str:
    """The service's message of an error answer (JSend), else the start of its body."""
    try:
        body = response.json()
    except ValueError:
        text = (response.text or "").strip()
        return redact(text[:200]) or response.reason or "error"
    if isinstance(body, dict):
        data = body.get("data")
        if isinstance(data, dict) and data.get("description"):
            return str(data["description"])
        if body.get("message"):
            return str(body["message"])
    return str(body)[:200]


def redact(text: str) -> str:
    return _TOKEN_TEXT.sub(r"\1***", text)


def _token_provider(token: str) -> Any:
    from pasqal_cloud.authentication import TokenProvider

    class EnvironmentToken(TokenProvider):
        def get_token(self) -> str:
            return token

        def __repr__(self) -> str:
            return "EnvironmentToken(***)"

    return EnvironmentToken()


def make_sdk(config: PasqalConfig, environ: Mapping[str, str] | None = None) -> Any:
    """The SDK for ``config``'s project, with qplan's client class and the credentials
    of the environment."""
    from pasqal_cloud.endpoints import Endpoints
    from pasqal_cloud.pasqal_cloud_client import PasqalCloudClient

    env = os.environ if environ is None else environ
    endpoint = (env.get(ENDPOINT) or "").rstrip("/")
    endpoints = Endpoints(core=endpoint, account=endpoint) if endpoint else None
    client_class = once_client()
    token = env.get(TOKEN)
    if token:
        return PasqalCloudClient(
            project_id=config.project_id,
            token_provider=_token_provider(token),
            endpoints=endpoints,
            client_class=client_class,
        )
    username, password = env.get(USERNAME), env.get(PASSWORD)
    if username and password:
        try:
            return PasqalCloudClient(
                project_id=config.project_id,
                username=username,
                password=password,
                endpoints=endpoints,
                client_class=client_class,
            )
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # the SDK's errors derive from BaseException
            raise QplanError(f"Pasqal Cloud sign-in failed: {redact(str(exc))}") from None
    raise QplanError(f"no Pasqal Cloud credentials: set {TOKEN}, or {USERNAME} and {PASSWORD}")
