#!/usr/bin/env python3
"""A real SMTP server (aiosmtpd) that saves every message it accepts as a .eml file.

The demo and the integration tests send driftd's alert e-mails here over TCP.

    smtp_sink.py --port 2525 --dir /tmp/mail [--user U --password P]

With --user/--password, AUTH (PLAIN or LOGIN) is required, without TLS (a local
test server). Each accepted message is written atomically to DIR/<ms>-<n>.eml and
announced on stdout. Stops on SIGTERM or SIGINT.
"""
import warnings
warnings.filterwarnings("ignore")
import argparse
import base64
import email
import json
import email.policy
import os
import signal
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class SaveToDir:
    def __init__(self, directory, write_json):
        self.directory = directory
        self.write_json = write_json
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            n = self.count
        name = f"{int(time.time() * 1000)}-{n:05d}.eml"
        tmp = os.path.join(self.directory, "." + name)
        with open(tmp, "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(tmp, os.path.join(self.directory, name))
        msg = email.message_from_bytes(envelope.original_content or envelope.content,
                                       policy=email.policy.default)
        if self.write_json:
            # The decoded parts, for tests: <name>.json next to the .eml.
            def part(kind):
                p = msg.get_body(preferencelist=(kind,))
                return p.get_content() if p is not None else None
            doc = {
                "received_ms": int(time.time() * 1000),
                "subject": msg["subject"],
                "from": msg["from"],
                "to": list(envelope.rcpt_tos),
                "message_id": msg["message-id"],
                "content_type": msg.get_content_type(),
                "text": part("plain"),
                "html": part("html"),
                # Inline parts (charts): Content-ID without <>, type, the parent's
                # type, the decoded bytes in base64.
                "inline": [
                    {"cid": (p["content-id"] or "").strip("<>"),
                     "content_type": p.get_content_type(),
                     "disposition": p.get_content_disposition(),
                     "base64": base64.b64encode(p.get_payload(decode=True)).decode()}
                    for p in msg.walk() if p.get_content_maintype() == "image"
                ],
                "parts": [p.get_content_type() for p in msg.walk()],
                "size": len(envelope.original_content or envelope.content),
            }
            path = os.path.join(self.directory, name[:-4] + ".json")
            with open(tmp, "w") as f:
                json.dump(doc, f)
            os.rename(tmp, path)
        print(f"smtp: accepted from {envelope.mail_from} to {', '.join(envelope.rcpt_tos)}: "
              f"{msg['subject']} -> {os.path.join(self.directory, name)}", flush=True)
        return "250 Message accepted for delivery"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--json", action="store_true",
                    help="also write the decoded subject and parts as <name>.json")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)

    kwargs = {}
    if a.user:
        def authenticate(server, session, envelope, mechanism, auth_data):
            ok = (isinstance(auth_data, LoginPassword)
                  and auth_data.login.decode() == a.user
                  and auth_data.password.decode() == a.password)
            return AuthResult(success=ok)
        kwargs = dict(authenticator=authenticate, auth_required=True, auth_require_tls=False)

    controller = Controller(SaveToDir(a.dir, a.json), hostname=a.host, port=a.port, **kwargs)
    controller.start()
    print(f"smtp: listening on {a.host}:{a.port}, saving to {a.dir}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
