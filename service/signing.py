"""Standard Webhooks signing (standardwebhooks.com): the secret's forms and the signature.

Shared by every signed destination and by config validation, which checks a secret's form.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

SECRET_PREFIX = "whsec_"  # noqa: S105 - the spec's prefix, not a credential


def decode_base64_secret(secret: str) -> bytes | None:
    """The key of `whsec_<base64>` (the spec's form) or of bare base64; None if not base64."""
    return _b64decode(secret.removeprefix(SECRET_PREFIX))


def decode_secret(secret: str) -> bytes:
    """The HMAC key: `whsec_<base64>` or bare base64 are decoded; any other string is used as
    raw UTF-8 bytes (config only lets base64 through). Raises ValueError (never quoting it)."""
    key = decode_base64_secret(secret)
    if key is None:
        if secret.startswith(SECRET_PREFIX):
            raise ValueError("webhook secret after 'whsec_' is not valid base64")
        key = secret.encode()
    if not key:
        raise ValueError("webhook secret is empty")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "{msg_id}.{timestamp}.{body}">`, the webhook-signature value."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(decode_secret(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def _b64decode(text: str) -> bytes | None:
    # Unpadded base64 is common in copied secrets; pad before strict decoding.
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
