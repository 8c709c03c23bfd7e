"""An SMTP server for testing SMTP clients, on Python's aiosmtpd (which nobody here wrote).

kumo-smtp's integration tests deliver to it, and the demo's `--deliver smtp` self test reuses
it: keep this command line stable.

Usage:

    python smtp_peer.py [--host 127.0.0.1] [--port 0] [--role ROLE] [--maildir DIR]
                        [--tls-cert PEM --tls-key PEM] [--hostname NAME]
                        [--no-pipelining] [--no-8bitmime] [--no-smtputf8] [--size BYTES]
                        [--exit-on-eof]

It binds HOST:PORT (port 0: any free port), prints the port it bound as one line on standard
output, then serves until it is killed (or, with --exit-on-eof, until its standard input
closes: a test that dies takes its server with it). Log lines go to standard error.

Roles (--role, default accept):

    accept             accepts everything; in this role a recipient whose local part starts
                       with "tempfail" gets 451 4.3.0 and one starting with "reject" gets
                       550 5.1.1 (for mixed-recipient tests)
    tempfail-rcpt      answers every RCPT TO with 451 4.3.0
    reject-rcpt        answers every RCPT TO with 550 5.1.1
    drop-in-data       answers DATA with 354, reads at most 64 KiB of the message, then resets
                       the connection (RST) without reading the rest
    drop-after-dot     reads the whole message up to the final dot, stores it (--maildir), then
                       closes the connection without replying
    tempfail-greeting  greets with 421 4.3.2 and closes the connection
    flaky              accepts everything, except the first RCPT TO of about one recipient in
                       five (chosen by a CRC-32 of the address), which gets 451 4.3.0: a retry
                       succeeds (the demo's real-delivery self test uses it)

--maildir DIR stores every message the server accepted (and, for drop-after-dot, every message
it read) exactly as received, after dot-unstuffing (aiosmtpd's envelope.original_content, with
decode_data off so no byte is altered): DIR/new/NNNNNNNN.eml, numbered from 00000001 in the
order received, written to DIR/tmp first and renamed. Beside each, DIR/new/NNNNNNNN.json holds
the envelope: {"mail_from", "rcpt_tos", "mail_options", "rcpt_options", "tls", "peer"}.

--tls-cert/--tls-key (PEM files) offer STARTTLS. The server offers PIPELINING, 8BITMIME,
SMTPUTF8 and SIZE (32 MiB unless --size; --size 0 offers no SIZE) unless told otherwise.
"""

import argparse
import asyncio
import itertools
import json
import os
import signal
import ssl
import sys
import threading
import zlib

from aiosmtpd.smtp import SMTP

ROLES = (
    "accept",
    "tempfail-rcpt",
    "reject-rcpt",
    "drop-in-data",
    "drop-after-dot",
    "tempfail-greeting",
    "flaky",
)


class Store:
    """Numbered files in a Maildir-like folder; nothing when no folder was given."""

    def __init__(self, maildir):
        self.maildir = maildir
        self.counter = itertools.count(1)
        if maildir:
            for sub in ("tmp", "new", "cur"):
                os.makedirs(os.path.join(maildir, sub), exist_ok=True)

    def save(self, session, envelope):
        if not self.maildir:
            return
        name = "%08d" % next(self.counter)
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "mail_options": list(envelope.mail_options),
            "rcpt_options": list(envelope.rcpt_options),
            "tls": session.ssl is not None,
            "peer": list(session.peer) if session.peer else None,
        }
        for suffix, data in (
            (".eml", envelope.original_content),
            (".json", json.dumps(meta).encode("utf-8")),
        ):
            tmp = os.path.join(self.maildir, "tmp", name + suffix)
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            # The .json lands last: a reader that sees it sees the message too.
            os.rename(tmp, os.path.join(self.maildir, "new", name + suffix))


class Handler:
    def __init__(self, role, store, pipelining):
        self.role = role
        self.store = store
        self.pipelining = pipelining
        self.tempfailed = set()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.pipelining:
            responses.insert(1, "250-PIPELINING")
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if self.role == "tempfail-rcpt" or (self.role == "accept" and local.startswith("tempfail")):
            return "451 4.3.0 Try again later"
        if self.role == "flaky" and zlib.crc32(address.lower().encode("utf-8")) % 5 == 0:
            if address.lower() not in self.tempfailed:
                self.tempfailed.add(address.lower())
                return "451 4.3.0 Try again later"
        if self.role == "reject-rcpt" or (self.role == "accept" and local.startswith("reject")):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.store.save(session, envelope)
        if self.role == "drop-after-dot":
            server.transport.close()
            # connection_lost() cancels this coroutine; no reply is ever sent.
            await asyncio.sleep(3600)
        return "250 2.0.0 OK queued"


class GreetingTempfail(SMTP):
    async def _handle_client(self):
        await self.push("421 4.3.2 Service not available, try again later")
        self.transport.close()


class DropInData(SMTP):
    async def smtp_DATA(self, arg):
        if await self.check_helo_needed():
            return
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        await self._reader.read(65536)
        # Unread data in the socket makes close() send a reset; abort() does so at once.
        self.transport.abort()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--role", choices=ROLES, default="accept")
    p.add_argument("--maildir")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--hostname", default="peer.test")
    p.add_argument("--no-pipelining", action="store_true")
    p.add_argument("--no-8bitmime", action="store_true")
    p.add_argument("--no-smtputf8", action="store_true")
    p.add_argument("--size", type=int, default=32 * 1024 * 1024)
    p.add_argument("--exit-on-eof", action="store_true")
    args = p.parse_args()
    if bool(args.tls_cert) != bool(args.tls_key):
        p.error("--tls-cert and --tls-key go together")

    tls_context = None
    if args.tls_cert:
        tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls_context.load_cert_chain(args.tls_cert, args.tls_key)

    store = Store(args.maildir)
    handler = Handler(args.role, store, not args.no_pipelining)
    cls = {"tempfail-greeting": GreetingTempfail, "drop-in-data": DropInData}.get(args.role, SMTP)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    def factory():
        return cls(
            handler,
            hostname=args.hostname,
            data_size_limit=args.size or None,
            enable_SMTPUTF8=not args.no_smtputf8,
            # decode_data off: original_content is the bytes received, and 8BITMIME is offered.
            decode_data=args.no_8bitmime,
            tls_context=tls_context,
            loop=loop,
        )

    server = loop.run_until_complete(loop.create_server(factory, args.host, args.port))
    port = server.sockets[0].getsockname()[1]
    sys.stdout.write("%d\n" % port)
    sys.stdout.flush()

    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    if args.exit_on_eof:
        def watch():
            sys.stdin.buffer.read()
            loop.call_soon_threadsafe(loop.stop)

        threading.Thread(target=watch, daemon=True).start()
    try:
        loop.run_forever()
    finally:
        server.close()


if __name__ == "__main__":
    main()
