"""OAuth client credentials for the simulated org: check a client, issue and read access tokens.

Tokens are self-validating (signed with SECRET_KEY, carrying the client id and the expiry), so
any server process can check a token that another one issued, with nothing stored.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import time

from django.conf import settings
from django.core import signing

TOKEN_SALT = "genesys_sim.access_token"


def client_credentials_valid(*, client_id: str, client_secret: str) -> bool:
    # Compare both, always, in constant time: no early exit that tells which one was wrong.
    id_ok = hmac.compare_digest(client_id.encode(), settings.GENESYS_SIM_CLIENT_ID.encode())
    secret_ok = hmac.compare_digest(
        client_secret.encode(), settings.GENESYS_SIM_CLIENT_SECRET.encode()
    )
    return id_ok and secret_ok


def basic_credentials(header: str) -> tuple[str, str] | None:
    """(client id, secret) from an `Authorization: Basic ...` header, or None if it is not one."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, colon, client_secret = decoded.partition(":")
    return (client_id, client_secret) if colon else None


def token_issue(*, client_id: str) -> tuple[str, int]:
    """A new access token and its lifetime in seconds."""
    lifetime = settings.GENESYS_SIM_TOKEN_TTL
    payload = {
        "c": client_id,
        "x": int(time.time()) + lifetime,
        # Two tokens issued in the same second still differ, as real ones do.
        "n": secrets.token_hex(4),
    }
    return signing.dumps(payload, salt=TOKEN_SALT), lifetime


def token_client_id(token: str) -> str | None:
    """The client a token was issued to, or None when it is forged, garbled or expired."""
    try:
        payload = signing.loads(token, salt=TOKEN_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("c"), str):
        return None
    if not isinstance(payload.get("x"), int) or payload["x"] <= time.time():
        return None
    return payload["c"]
