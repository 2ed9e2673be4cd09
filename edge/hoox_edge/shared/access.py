"""Cloudflare Access in front of the operator API: the gateway checks the `Cf-Access-Jwt-Assertion` JWT
Access adds to every request it lets through, in addition to the Bearer token.

On when the gateway has the vars `ACCESS_TEAM_DOMAIN` (e.g. `alpha.cloudflareaccess.com`) and `ACCESS_AUD`
(the application's audience tag), rendered from `[operator.access]` in hoox.toml. A request to `/v1/*`
then needs a JWT that is:

- signed RS256 by one of the team's keys, published at `https://<team>/cdn-cgi/access/certs` (JWKS);
- for the application (`aud` holds ACCESS_AUD), issued by the team (`iss` is `https://<team>`);
- current (`exp` in the future, `nbf` past), with `CLOCK_SKEW_S` of tolerance either way.

The edge runs on Pyodide, where nothing compiled is available: the signature is checked in pure Python
(RSASSA-PKCS1-v1_5: `pow()` on the signature, then the encoded SHA-256 DigestInfo compared in constant
time). Keys are cached per isolate for `KEYS_TTL_S`; a token naming a key the cache does not hold makes
one refetch (Access rotates its keys), at most once per `REFETCH_MIN_S`, so a flood of invented key ids
cannot turn into a flood of fetches. Without keys (the certs URL unreachable) the gateway refuses: it
fails closed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from hoox_edge.shared import clock
from hoox_edge.shared.errors import NOT_AVAILABLE, ApiError
from hoox_edge.shared.origin import is_loopback_host

TEAM_VAR = "ACCESS_TEAM_DOMAIN"
AUD_VAR = "ACCESS_AUD"
JWT_HEADER = "Cf-Access-Jwt-Assertion"
CERTS_PATH = "/cdn-cgi/access/certs"
ACCESS_DENIED = "ACCESS_DENIED"
CLOCK_SKEW_S = 60
KEYS_TTL_S = 3600
REFETCH_MIN_S = 30
MAX_JWT_BYTES = 16 * 1024
FETCH_TIMEOUT_S = 5.0

# DER of DigestInfo{sha256, NULL} up to the 32-byte digest (RFC 8017 §9.2, note 1).
_SHA256_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")


class AccessConfigError(ValueError):
    """`team_domain` is not a host name or an http(s) origin Access could publish keys at."""


def team_origin(team_domain: str) -> str:
    """`https://<team>` for a host name; a full origin is kept (http only on a loopback address: tests)."""
    text = team_domain.strip().rstrip("/")
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host or parts.path or parts.query or parts.username:
        raise AccessConfigError(f"team_domain must be your Access team's host name, e.g. alpha.cloudflareaccess.com,"
                                f" got {team_domain!r}")
    if parts.scheme == "http" and not is_loopback_host(host):
        raise AccessConfigError(f"team_domain {team_domain!r}: http is accepted only for a loopback address; "
                                "Access publishes its keys over https")
    if "." not in host and not is_loopback_host(host):
        raise AccessConfigError(f"team_domain must be a full host name such as alpha.cloudflareaccess.com, "
                                f"got {team_domain!r}")
    return f"{parts.scheme}://{parts.netloc.lower()}"


def settings_of(env: Any) -> tuple[str, str] | None:
    """(team origin, audience) when Access is configured on this worker, else None."""
    team, aud = env.get(TEAM_VAR), env.get(AUD_VAR)
    if not team and not aud:
        return None
    if not team or not aud:
        # Half a configuration must not silently turn the check off.
        raise ApiError(503, NOT_AVAILABLE, f"Cloudflare Access is half configured: set both {TEAM_VAR} and "
                       f"{AUD_VAR} (hoox.toml [operator.access] team_domain and audience), or neither.")
    try:
        return team_origin(str(team)), str(aud)
    except AccessConfigError as exc:
        raise ApiError(503, NOT_AVAILABLE, f"{TEAM_VAR}: {exc}.") from None


# ----------------------------------------------------------------------------- RS256 in pure Python
def b64url(text: str) -> bytes:
    """Base64url without padding (RFC 7515 §2), strictly: anything else is a ValueError."""
    if not text or any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" for c in text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class RsaKey:
    n: int
    e: int

    @property
    def size(self) -> int:
        return (self.n.bit_length() + 7) // 8


def rs256_valid(key: RsaKey, signing_input: bytes, signature: bytes) -> bool:
    """RSASSA-PKCS1-v1_5 verification with SHA-256 (RFC 8017 §8.2.2)."""
    k = key.size
    if len(signature) != k or k < 2048 // 8:
        return False
    s = int.from_bytes(signature, "big")
    if s >= key.n:
        return False
    em = pow(s, key.e, key.n).to_bytes(k, "big")
    t = _SHA256_PREFIX + hashlib.sha256(signing_input).digest()
    expected = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
    return hmac.compare_digest(em, expected)


def _jwk_key(jwk: Any) -> tuple[str, RsaKey] | None:
    if not isinstance(jwk, dict) or jwk.get("kty") != "RSA" or not isinstance(jwk.get("kid"), str):
        return None
    if jwk.get("alg") not in (None, "RS256") or jwk.get("use") not in (None, "sig"):
        return None
    try:
        return jwk["kid"], RsaKey(int.from_bytes(b64url(jwk["n"]), "big"), int.from_bytes(b64url(jwk["e"]), "big"))
    except (KeyError, TypeError, ValueError):
        return None


# ----------------------------------------------------------------------------- the team's keys
@dataclass
class _Keys:
    keys: dict[str, RsaKey] = field(default_factory=dict)
    fetched_at: float | None = None


_cache: dict[str, _Keys] = {}  # per certs URL, for the isolate's life


async def _fetch(url: str) -> dict[str, RsaKey]:
    import httpx

    from hoox_edge.shared.http import http_client

    try:
        async with http_client(timeout=FETCH_TIMEOUT_S) as client:
            resp = await client.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise ApiError(503, NOT_AVAILABLE, f"Cloudflare Access keys could not be fetched from {url} "
                       f"({type(exc).__name__}); the operator API refuses until they can.") from None
    try:
        body = resp.json() if resp.status_code == 200 else None
    except ValueError:
        body = None
    found = dict(k for k in map(_jwk_key, (body or {}).get("keys") or []) if k) if isinstance(body, dict) else {}
    if not found:
        raise ApiError(503, NOT_AVAILABLE, f"{url} answered HTTP {resp.status_code} without an RSA key set; "
                       "the operator API refuses until Access's keys can be read.")
    return found


async def key_for(certs_url: str, kid: str) -> RsaKey | None:
    """The team's key `kid`: from the cache while it is fresh, else fetched (once more for an unknown kid)."""
    entry = _cache.setdefault(certs_url, _Keys())
    now = clock.now()
    stale = entry.fetched_at is None or now - entry.fetched_at >= KEYS_TTL_S
    if stale or (kid not in entry.keys and now - (entry.fetched_at or 0.0) >= REFETCH_MIN_S):
        try:
            entry.keys = await _fetch(certs_url)
            entry.fetched_at = now
        except ApiError:
            if not entry.keys:
                raise
            # Keep serving the keys we have while the endpoint is away; a rotated-out key still fails.
    return entry.keys.get(kid)


def clear_cache() -> None:
    _cache.clear()


# ----------------------------------------------------------------------------- the check
def _deny(reason: str) -> ApiError:
    return ApiError(403, ACCESS_DENIED, f"Cloudflare Access: {reason}. Send the request through Access (a service "
                    "token: CF-Access-Client-Id and CF-Access-Client-Secret, HOOX_ACCESS_CLIENT_ID/SECRET for hoox).")


def _claims_problem(claims: dict[str, Any], origin: str, audience: str, now: float) -> str | None:
    aud = claims.get("aud")
    auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if audience not in auds:
        return "the token's audience (aud) is not this application's"
    if claims.get("iss") != origin:
        return f"the token was not issued by {origin} (iss)"
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return "the token has no expiry (exp)"
    if now > exp + CLOCK_SKEW_S:
        return f"the token expired at {clock.iso(float(exp))}"
    if nbf is not None and (isinstance(nbf, bool) or not isinstance(nbf, int | float)):
        return "the token's nbf is not a time"
    if nbf is not None and now < nbf - CLOCK_SKEW_S:
        return f"the token is not valid before {clock.iso(float(nbf))}"
    return None


async def verify(token: str | None, origin: str, audience: str) -> dict[str, Any]:
    """The token's claims when it passes every rule; ApiError 403 ACCESS_DENIED naming the rule it broke."""
    if not token:
        raise _deny(f"no {JWT_HEADER} header (the request did not come through Access)")
    if len(token) > MAX_JWT_BYTES:
        raise _deny(f"{JWT_HEADER} is longer than {MAX_JWT_BYTES} bytes")
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise _deny(f"{JWT_HEADER} is not a JWT (header.payload.signature)")
    try:
        header = json.loads(b64url(parts[0]))
        claims = json.loads(b64url(parts[1]))
        signature = b64url(parts[2])
    except (ValueError, UnicodeDecodeError):
        raise _deny(f"{JWT_HEADER} is not a well-formed JWT") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise _deny(f"{JWT_HEADER} is not a well-formed JWT")
    if header.get("alg") != "RS256":
        raise _deny("the token is not signed RS256")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise _deny("the token names no key (kid)")
    key = await key_for(origin + CERTS_PATH, kid)
    if key is None:
        raise _deny("the token is signed by a key the team does not publish")
    if not rs256_valid(key, f"{parts[0]}.{parts[1]}".encode("ascii"), signature):
        raise _deny("the token's signature does not verify")
    problem = _claims_problem(claims, origin, audience, clock.now())
    if problem:
        raise _deny(problem)
    return claims


class AccessGate:
    """ASGI middleware around the operator API (`Mount("/v1")` on the gateway): with Access configured,
    every request needs a valid Access JWT before the Bearer token is even looked at."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            cfg = settings_of(scope["env"])
            if cfg is not None:
                token = None
                for k, v in scope.get("headers") or []:
                    if k.lower() == JWT_HEADER.lower().encode("latin-1"):
                        token = v.decode("latin-1")
                        break
                await verify(token, *cfg)
        await self.app(scope, receive, send)
