"""Ethereum primitives for web3-wallet-worker, on the standard library alone: Keccak-256, secp256k1
ECDSA (RFC 6979 deterministic nonces, recovery id, low-s), RLP, EIP-1559 transaction signing, EIP-55
addresses, BIP-39 seeds and BIP-32 derivation, and the few ABI encodings the wallet calls.

Why not eth-account / eth-keys (docs/architecture.md, "The web3 wallet"): eth-account imports ckzg
(a C extension Pyodide 0.28 does not ship), eth-keys imports eth-utils which imports pydantic (kept
out of the edge), coincurve is not in Pyodide, pycryptodome has no secp256k1, and the deploy vendors
only pure-Python wheels. The tests check every function here byte for byte against eth-account and
eth-keys, and every signed transaction against a real EVM (py-evm).

Pure-Python big-integer arithmetic is not constant-time: the key is used only inside the worker's
isolate, which no other tenant can time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

# ============================================================================ Keccak-256
_RC = [
    0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
    0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
    0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
    0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
    0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
]
_ROT = [[0, 36, 3, 41, 18], [1, 44, 10, 45, 2], [62, 6, 43, 15, 61], [28, 55, 25, 21, 56], [27, 20, 39, 8, 14]]
_M64 = (1 << 64) - 1


def _rol(x: int, n: int) -> int:
    return ((x << n) | (x >> (64 - n))) & _M64 if n else x


def _keccak_f(a: list[list[int]]) -> None:
    for rc in _RC:
        c = [a[x][0] ^ a[x][1] ^ a[x][2] ^ a[x][3] ^ a[x][4] for x in range(5)]
        d = [c[(x - 1) % 5] ^ _rol(c[(x + 1) % 5], 1) for x in range(5)]
        for x in range(5):
            for y in range(5):
                a[x][y] ^= d[x]
        b = [[0] * 5 for _ in range(5)]
        for x in range(5):
            for y in range(5):
                b[y][(2 * x + 3 * y) % 5] = _rol(a[x][y], _ROT[x][y])
        for x in range(5):
            for y in range(5):
                a[x][y] = b[x][y] ^ ((~b[(x + 1) % 5][y]) & b[(x + 2) % 5][y])
        a[0][0] ^= rc


def keccak256(data: bytes) -> bytes:
    """Ethereum's hash: Keccak with the original 0x01 padding (hashlib's sha3_256 pads with 0x06)."""
    rate = 136
    padded = bytearray(data) + b"\x01" + b"\x00" * ((-len(data) - 1) % rate)
    padded[-1] |= 0x80
    a = [[0] * 5 for _ in range(5)]
    for off in range(0, len(padded), rate):
        block = padded[off:off + rate]
        for i in range(rate // 8):
            a[i % 5][i // 5] ^= int.from_bytes(block[8 * i:8 * i + 8], "little")
        _keccak_f(a)
    return b"".join(a[i % 5][i // 5].to_bytes(8, "little") for i in range(4))


# ============================================================================ secp256k1
P = 2**256 - 2**32 - 977
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_G = (0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
      0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8)
_Jac = tuple[int, int, int]


def _jdouble(p: _Jac) -> _Jac:
    x, y, z = p
    if y == 0 or z == 0:
        return (0, 0, 0)
    s = 4 * x * y * y % P
    m = 3 * x * x % P
    nx = (m * m - 2 * s) % P
    return nx, (m * (s - nx) - 8 * pow(y, 4, P)) % P, 2 * y * z % P


def _jadd(p: _Jac, q: _Jac) -> _Jac:
    if p[2] == 0:
        return q
    if q[2] == 0:
        return p
    u1, u2 = p[0] * q[2] ** 2 % P, q[0] * p[2] ** 2 % P
    s1, s2 = p[1] * q[2] ** 3 % P, q[1] * p[2] ** 3 % P
    if u1 == u2:
        return _jdouble(p) if s1 == s2 else (0, 0, 0)
    h, r = u2 - u1, s2 - s1
    h2 = h * h % P
    h3 = h * h2 % P
    nx = (r * r - h3 - 2 * u1 * h2) % P
    return nx, (r * (u1 * h2 - nx) - s1 * h3) % P, h * p[2] * q[2] % P


def _mul(point: tuple[int, int], k: int) -> tuple[int, int]:
    acc: _Jac = (0, 0, 0)
    add: _Jac = (point[0], point[1], 1)
    while k:
        if k & 1:
            acc = _jadd(acc, add)
        add = _jdouble(add)
        k >>= 1
    if acc[2] == 0:
        raise ValueError("point at infinity")
    zi = pow(acc[2], -1, P)
    return acc[0] * zi * zi % P, acc[1] * zi ** 3 % P


def public_key(secret: int) -> bytes:
    """The 64-byte uncompressed public key (x ‖ y) of a private key."""
    x, y = _mul(_G, secret)
    return x.to_bytes(32, "big") + y.to_bytes(32, "big")


def _compressed(secret: int) -> bytes:
    x, y = _mul(_G, secret)
    return bytes([2 + (y & 1)]) + x.to_bytes(32, "big")


def _rfc6979_k(secret: int, digest: bytes) -> int:
    x = secret.to_bytes(32, "big")
    h = (int.from_bytes(digest, "big") % N).to_bytes(32, "big")
    v, k = b"\x01" * 32, b"\x00" * 32
    k = hmac.new(k, v + b"\x00" + x + h, hashlib.sha256).digest()
    v = hmac.new(k, v, hashlib.sha256).digest()
    k = hmac.new(k, v + b"\x01" + x + h, hashlib.sha256).digest()
    v = hmac.new(k, v, hashlib.sha256).digest()
    while True:
        v = hmac.new(k, v, hashlib.sha256).digest()
        candidate = int.from_bytes(v, "big")
        if 1 <= candidate < N:
            return candidate
        k = hmac.new(k, v + b"\x00", hashlib.sha256).digest()
        v = hmac.new(k, v, hashlib.sha256).digest()


def sign_digest(secret: int, digest: bytes) -> tuple[int, int, int]:
    """(y_parity, r, s) of a 32-byte digest, s in the lower half (EIP-2)."""
    z = int.from_bytes(digest, "big")
    k = _rfc6979_k(secret, digest)
    rx, ry = _mul(_G, k)
    r = rx % N
    s = pow(k, -1, N) * (z + r * secret) % N
    if r == 0 or s == 0:  # probability ~2^-256; a different k would be needed
        raise ValueError("degenerate signature")
    parity = ry & 1
    if s > N // 2:
        s, parity = N - s, parity ^ 1
    return parity, r, s


# ============================================================================ keys and addresses
_HEX_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


def checksum(address: bytes) -> str:
    """EIP-55 mixed-case form of a 20-byte address."""
    hexed = address.hex()
    digest = keccak256(hexed.encode()).hex()
    return "0x" + "".join(c.upper() if int(digest[i], 16) >= 8 else c for i, c in enumerate(hexed))


def parse_address(text: str) -> bytes:
    """20 bytes of a 0x-address; a mixed-case one must carry a correct EIP-55 checksum."""
    if not isinstance(text, str) or not _ADDRESS.match(text):
        raise ValueError("must be a 0x-prefixed 20-byte hex address (42 characters)")
    raw = bytes.fromhex(text[2:])
    body = text[2:]
    if body != body.lower() and body != body.upper() and checksum(raw) != text:
        raise ValueError("has a wrong EIP-55 checksum (mixed case that does not match)")
    return raw


@dataclass(frozen=True)
class Key:
    """A private key. repr/str never show the secret."""

    secret: int

    def __post_init__(self) -> None:
        if not 1 <= self.secret < N:
            raise ValueError("private key out of range")

    @classmethod
    def from_hex(cls, text: str) -> Key:
        text = text.strip()
        if not _HEX_KEY.match(text):
            raise ValueError("must be 32 bytes of hex (64 hex digits, 0x optional)")
        return cls(int(text.removeprefix("0x"), 16))

    @property
    def address(self) -> str:
        return checksum(keccak256(public_key(self.secret))[-20:])

    def __repr__(self) -> str:
        return "Key(<hidden>)"

    __str__ = __repr__


# ============================================================================ BIP-39 / BIP-32
DEFAULT_PATH = "m/44'/60'/0'/0/{index}"
_HARDENED = 0x80000000


def mnemonic_seed(mnemonic: str, passphrase: str = "") -> bytes:
    words = unicodedata.normalize("NFKD", " ".join(mnemonic.split()))
    if len(words.split(" ")) not in (12, 15, 18, 21, 24):
        raise ValueError("a mnemonic has 12, 15, 18, 21 or 24 words")
    salt = unicodedata.normalize("NFKD", "mnemonic" + passphrase)
    return _pbkdf2_sha512(words.encode(), salt.encode(), 2048)


def _pbkdf2_sha512(password: bytes, salt: bytes, rounds: int) -> bytes:
    """PBKDF2-HMAC-SHA512, one 64-byte block. Pyodide's hashlib has no pbkdf2_hmac (it is OpenSSL's), so
    it is done with hmac there; 2048 rounds take milliseconds."""
    fast = getattr(hashlib, "pbkdf2_hmac", None)
    if fast is not None:
        return bytes(fast("sha512", password, salt, rounds))
    mac = hmac.new(password, None, hashlib.sha512)

    def prf(data: bytes) -> bytes:
        h = mac.copy()
        h.update(data)
        return h.digest()

    u = prf(salt + b"\x00\x00\x00\x01")
    out = int.from_bytes(u, "big")
    for _ in range(rounds - 1):
        u = prf(u)
        out ^= int.from_bytes(u, "big")
    return out.to_bytes(64, "big")


def derive(seed: bytes, path: str) -> Key:
    """BIP-32 private derivation along `path` (m/44'/60'/0'/0/0)."""
    parts = path.split("/")
    if parts[0] != "m":
        raise ValueError("a derivation path starts with m/")
    i_full = hmac.new(b"Bitcoin seed", seed, hashlib.sha512).digest()
    k, chain = int.from_bytes(i_full[:32], "big"), i_full[32:]
    for part in parts[1:]:
        hardened = part.endswith("'")
        index = int(part.rstrip("'"))
        if not 0 <= index < _HARDENED:
            raise ValueError(f"path index {part} out of range")
        if hardened:
            index |= _HARDENED
            data = b"\x00" + k.to_bytes(32, "big") + index.to_bytes(4, "big")
        else:
            data = _compressed(k) + index.to_bytes(4, "big")
        i_full = hmac.new(chain, data, hashlib.sha512).digest()
        k, chain = (int.from_bytes(i_full[:32], "big") + k) % N, i_full[32:]
    return Key(k)


def key_from_mnemonic(mnemonic: str, index: int = 0) -> Key:
    return derive(mnemonic_seed(mnemonic), DEFAULT_PATH.format(index=index))


# ============================================================================ RLP and transactions
Rlp = bytes | int | Sequence["Rlp"]


def _int_bytes(n: int) -> bytes:
    return n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""


def _length(n: int, offset: int) -> bytes:
    if n < 56:
        return bytes([offset + n])
    b = _int_bytes(n)
    return bytes([offset + 55 + len(b)]) + b


def rlp_encode(item: Rlp) -> bytes:
    if isinstance(item, int):
        if item < 0:
            raise ValueError("RLP has no negative integers")
        item = _int_bytes(item)
    if isinstance(item, bytes):
        if len(item) == 1 and item[0] < 0x80:
            return item
        return _length(len(item), 0x80) + item
    payload = b"".join(rlp_encode(x) for x in item)
    return _length(len(payload), 0xC0) + payload


@dataclass(frozen=True)
class Eip1559Tx:
    chain_id: int
    nonce: int
    max_priority_fee_per_gas: int
    max_fee_per_gas: int
    gas: int
    to: bytes | None  # None: contract creation
    value: int
    data: bytes

    def _fields(self) -> list[Rlp]:
        return [self.chain_id, self.nonce, self.max_priority_fee_per_gas, self.max_fee_per_gas, self.gas,
                self.to or b"", self.value, self.data, []]

    def signed(self, key: Key) -> tuple[bytes, bytes]:
        """(raw transaction, transaction hash)."""
        digest = keccak256(b"\x02" + rlp_encode(self._fields()))
        parity, r, s = sign_digest(key.secret, digest)
        raw = b"\x02" + rlp_encode([*self._fields(), parity, r, s])
        return raw, keccak256(raw)


# ============================================================================ ABI (the calls the wallet makes)
BALANCE_OF = bytes.fromhex("70a08231")  # balanceOf(address)
TRANSFER = bytes.fromhex("a9059cbb")  # transfer(address,uint256)
DECIMALS = bytes.fromhex("313ce567")  # decimals()
SYMBOL = bytes.fromhex("95d89b41")  # symbol()


def word(value: int | bytes) -> bytes:
    if isinstance(value, bytes):
        return value.rjust(32, b"\x00")
    return value.to_bytes(32, "big")


def call_data(selector: bytes, *args: int | bytes) -> bytes:
    return selector + b"".join(word(a) for a in args)


def decode_uint(data: bytes) -> int:
    if len(data) < 32:
        raise ValueError(f"expected a 32-byte word, got {len(data)} bytes")
    return int.from_bytes(data[:32], "big")


def decode_string(data: bytes) -> str:
    """An ABI `string` return value (or a bytes32 one, as some old tokens answer symbol())."""
    if len(data) == 32:
        return data.rstrip(b"\x00").decode("utf-8", "replace")
    offset = decode_uint(data)
    length = decode_uint(data[offset:])
    return data[offset + 32:offset + 32 + length].decode("utf-8", "replace")
