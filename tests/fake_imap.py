"""A loopback IMAP server over TLS: the subset of IMAP4rev1 that `imaplib` and hoox's poller use
(CAPABILITY, LOGIN, SELECT, UID SEARCH, UID FETCH, UID STORE, NOOP, LOGOUT), with a self-signed
certificate made for 127.0.0.1 at start. It keeps every command it was sent (`commands`) and each
message's flags, so tests can see what was fetched and marked."""

from __future__ import annotations

import datetime
import ipaddress
import re
import socket
import socketserver
import ssl
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from netutil import ServedInThread


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@dataclass
class Stored:
    uid: int
    raw: bytes
    flags: set[str] = field(default_factory=set)


class FakeImap:
    def __init__(self, user: str, password: str, uidvalidity: int = 7) -> None:
        self.user, self.password, self.uidvalidity = user, password, uidvalidity
        self.messages: list[Stored] = []
        self.commands: list[str] = []
        self.logins = 0
        self._lock = threading.Lock()
        self._dir = tempfile.TemporaryDirectory()
        cert, key = self_signed(Path(self._dir.name))
        self.cafile = str(cert)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        fake = self

        class Handler(socketserver.StreamRequestHandler):
            def setup(self) -> None:
                self.request = ctx.wrap_socket(self.request, server_side=True)
                super().setup()

            def handle(self) -> None:
                fake._serve(self.rfile, self.wfile)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                if not isinstance(sys.exc_info()[1], ssl.SSLError):  # a client refusing our cert is a test's point
                    super().handle_error(request, client_address)

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._served = ServedInThread(self._server)

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.cafile)

    def add(self, raw: bytes) -> int:
        with self._lock:
            uid = (self.messages[-1].uid if self.messages else 0) + 1
            self.messages.append(Stored(uid, raw))
            return uid

    def fetched(self) -> list[int]:
        return [int(m.group(1)) for c in self.commands if (m := re.match(r"UID FETCH (\d+) ", c))]

    def __enter__(self) -> FakeImap:
        self._served.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._served.stop()
        self._dir.cleanup()

    # ----------------------------------------------------------------- protocol
    def _serve(self, rfile: socket.SocketIO, wfile: socket.SocketIO) -> None:
        def send(line: str | bytes) -> None:
            wfile.write(line if isinstance(line, bytes) else line.encode() + b"\r\n")

        send("* OK [CAPABILITY IMAP4rev1] fake IMAP ready")
        authed = False
        while True:
            line = rfile.readline()
            if not line:
                return
            tag, _, rest = line.decode().rstrip("\r\n").partition(" ")
            cmd, _, args = rest.partition(" ")
            cmd = cmd.upper()
            if cmd == "UID":
                sub, _, args = args.partition(" ")
                cmd = "UID " + sub.upper()
            self.commands.append(f"{cmd} {args}" if cmd != "LOGIN" else "LOGIN")
            if cmd == "CAPABILITY":
                send("* CAPABILITY IMAP4rev1")
                send(f"{tag} OK CAPABILITY completed")
            elif cmd == "NOOP":
                send(f"{tag} OK NOOP completed")
            elif cmd == "LOGOUT":
                send("* BYE logging out")
                send(f"{tag} OK LOGOUT completed")
                return
            elif cmd == "LOGIN":
                user, password = [p.strip('"').replace('\\"', '"').replace("\\\\", "\\")
                                  for p in re.findall(r'"(?:[^"\\]|\\.)*"|\S+', args)]
                if (user, password) == (self.user, self.password):
                    authed = True
                    self.logins += 1
                    send(f"{tag} OK LOGIN completed")
                else:
                    send(f"{tag} NO [AUTHENTICATIONFAILED] invalid credentials")
            elif not authed:
                send(f"{tag} BAD log in first")
            elif cmd in ("SELECT", "EXAMINE"):
                send(f"* {len(self.messages)} EXISTS")
                send(f"* OK [UIDVALIDITY {self.uidvalidity}] UIDs valid")
                send(f"{tag} OK [READ-WRITE] SELECT completed")
            elif cmd == "UID SEARCH":
                m = re.fullmatch(r"UNSEEN UID (\d+):\*", args)
                if not m:
                    send(f"{tag} BAD unsupported search")
                    continue
                start = int(m.group(1))
                with self._lock:
                    unseen = [s.uid for s in self.messages if "\\Seen" not in s.flags]
                    top = self.messages[-1].uid if self.messages else None
                # RFC 3501: n:* includes the highest UID even when it is below n.
                hits = sorted({u for u in unseen if u >= start} | ({top} if top in unseen else set()))
                send("* SEARCH" + "".join(f" {u}" for u in hits))
                send(f"{tag} OK SEARCH completed")
            elif cmd == "UID FETCH":
                uid_text, _, what = args.partition(" ")
                found = next((s for s in self.messages if s.uid == int(uid_text)), None)
                if found is not None and what == "(BODY.PEEK[])":
                    seq = self.messages.index(found) + 1
                    send(f"* {seq} FETCH (UID {found.uid} BODY[] {{{len(found.raw)}}}".encode() + b"\r\n" + found.raw
                         + b")\r\n")
                send(f"{tag} OK FETCH completed")
            elif cmd == "UID STORE":
                m = re.fullmatch(r"(\d+) \+FLAGS \((.*)\)", args)
                found = next((s for s in self.messages if m and s.uid == int(m.group(1))), None)
                if m and found is not None:
                    found.flags.update(m.group(2).split())
                    seq = self.messages.index(found) + 1
                    send(f"* {seq} FETCH (UID {found.uid} FLAGS ({' '.join(sorted(found.flags))}))")
                send(f"{tag} OK STORE completed")
            else:
                send(f"{tag} BAD unknown command")
