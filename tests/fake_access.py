"""A loopback Cloudflare Access team: real RS256 keys (`cryptography`), their JWKS published at
`/cdn-cgi/access/certs` as Access does (`{"keys": [{"kid", "kty": "RSA", "alg": "RS256", "use": "sig", "n",
"e"}], ...}`), JWTs minted the way Access mints them (`aud` a list, `iss` the team's origin), and key
rotation. Every certs fetch is counted so that tests can see the cache at work."""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from netutil import ServedInThread


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_b64(n: int) -> str:
    return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


@dataclass
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey

    @classmethod
    def new(cls, kid: str) -> SigningKey:
        return cls(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def jwk(self) -> dict[str, Any]:
        pub = self.private.public_key().public_numbers()
        return {"kid": self.kid, "kty": "RSA", "alg": "RS256", "use": "sig", "e": _int_b64(pub.e), "n": _int_b64(pub.n)}

    def sign(self, data: bytes) -> bytes:
        return self.private.sign(data, padding.PKCS1v15(), hashes.SHA256())


class FakeAccess:
    """`with FakeAccess() as team:` serves the team's certs on a free loopback port; `team.origin` is the
    team domain to configure and the `iss` of its tokens."""

    def __init__(self, audience: str = "aud-" + "a" * 60) -> None:
        self.audience = audience
        self.keys = [SigningKey.new("key-1")]
        self.fetches = 0
        self.down = False
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != "/cdn-cgi/access/certs":
                    self._send(404, {"error": "not found"})
                    return
                with fake._lock:
                    fake.fetches += 1
                    if fake.down:
                        self._send(503, {"error": "unavailable"})
                        return
                    body = {"keys": [k.jwk() for k in fake.keys],
                            "public_cert": {"kid": fake.keys[0].kid, "cert": "(not used by hoox)"}}
                self._send(200, body)

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._served = ServedInThread(self._server)

    def __enter__(self) -> FakeAccess:
        self._served.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._served.stop()

    def rotate(self) -> SigningKey:
        """Publish a new key first in the set and drop the oldest of more than two (as Access does)."""
        with self._lock:
            new = SigningKey.new(f"key-{len(self.keys) + 1}-{self.fetches}")
            self.keys = [new, *self.keys][:2]
            return new

    def retire_all_but_newest(self) -> None:
        with self._lock:
            self.keys = self.keys[:1]

    def token(self, *, now: float, key: SigningKey | None = None, ttl: float = 3600, aud: Any = None,
              iss: str | None = None, nbf: float | None = None, alg: str = "RS256", kid: str | None = None,
              extra: dict[str, Any] | None = None) -> str:
        k = key or self.keys[0]
        header = {"alg": alg, "kid": kid if kid is not None else k.kid, "typ": "JWT"}
        claims: dict[str, Any] = {"aud": [self.audience] if aud is None else aud, "iss": iss or self.origin,
                                  "iat": int(now), "exp": int(now + ttl), "nbf": int(now if nbf is None else nbf),
                                  "sub": "", "type": "app", "common_name": "hoox-cli.access"}
        claims.update(extra or {})
        signing_input = (b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())).encode()
        return signing_input.decode() + "." + b64url(k.sign(signing_input))


def access_edge(team: FakeAccess, app: Any, env: Any, service_token: tuple[str, str], *, now: Any) -> Any:
    """An ASGI app playing Cloudflare's edge with an Access application in front of `app`: a request with
    the service token (CF-Access-Client-Id/-Secret) goes on with a fresh JWT in Cf-Access-Jwt-Assertion
    and without the token's headers; any other is redirected to the team's login page, as Access does."""
    client_id, client_secret = service_token

    async def proxy(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if headers.get("cf-access-client-id") != client_id or headers.get("cf-access-client-secret") != client_secret:
            await send({"type": "http.response.start", "status": 302,
                        "headers": [(b"location", f"{team.origin}/cdn-cgi/access/login/hoox".encode()),
                                    (b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        kept = [(k, v) for k, v in scope["headers"] if not k.lower().startswith(b"cf-access-")]
        kept.append((b"cf-access-jwt-assertion", team.token(now=now()).encode()))
        await app({**scope, "headers": kept, "env": env}, receive, send)

    return proxy
