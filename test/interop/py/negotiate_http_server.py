#!/usr/bin/python3
"""A Negotiate (RFC 4559) HTTP server on MIT's GSS-API (python3-gssapi), for the HTTP client interop tests.

Run with Debian's /usr/bin/python3 (the interpreter that has the gssapi module).

    negotiate_http_server.py [--mech ntlm|any] [--tls CERT KEY [--bindings own|other|none]]

    --mech ntlm   SPNEGO with only NTLM inside (gss-ntlmssp; users from the file named by NTLM_USER_FILE,
                  "DOMAIN:USER:PASSWORD" per line), no KDC needed
    --mech any    SPNEGO with whatever the acceptor credentials allow (Kerberos from KRB5_KTNAME)
    --tls         HTTPS with this certificate and key (PEM); the acceptor gets channel bindings
                  (RFC 5929 tls-server-end-point) for: own, its certificate (default); other, a
                  certificate it does not have (a relay's view); none, no bindings at all

Listens on 127.0.0.1 on a free port and prints "READY <port>" on stdout. Every request:
  no Authorization header: 200 if the connection was authenticated before (NTLM), else
                           401 with "WWW-Authenticate: Negotiate"
  Authorization: Negotiate <b64>: one gss_accept_sec_context step on the connection's context;
                           401 + "WWW-Authenticate: Negotiate <b64>" while more legs are needed,
                           200 + the final token (if any) and a JSON body when complete,
                           401 "WWW-Authenticate: Negotiate [<reject token>]" when the step fails.
The JSON body: {"user": initiator name, "mech": dotted OID, "connection": n, "legs": n, "body": text,
"channelBound": whether MIT set GSS_C_CHANNEL_BOUND_FLAG (the initiator's bindings matched)}.
Each request also prints "REQUEST <connection> <scheme or -> <status>" on stdout. End of stdin stops it.
"""

import argparse
import base64
import itertools
import json
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NTLM_OID = '1.3.6.1.4.1.311.2.2.10'
SPNEGO_OID = '1.3.6.1.5.5.2'

counter = itertools.count(1)
print_lock = threading.Lock()


def say(line):
    with print_lock:
        sys.stdout.write(line + '\n')
        sys.stdout.flush()


def make_handler(gssapi, raw, mech_mode, bindings):
    ntlm = gssapi.OID.from_int_seq(NTLM_OID)
    spnego = gssapi.OID.from_int_seq(SPNEGO_OID)

    def acceptor():
        creds = gssapi.Credentials(usage='accept', mechs=[spnego])
        if mech_mode == 'ntlm':
            raw.set_neg_mechs(creds, [ntlm])
        if bindings is None:
            return gssapi.SecurityContext(creds=creds, usage='accept')
        return gssapi.SecurityContext(creds=creds, usage='accept', channel_bindings=raw.ChannelBindings(application_data=bindings))

    class Handler(BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'

        def setup(self):
            super().setup()
            self.conn_id = next(counter)
            self.ctx = None
            self.legs = 0
            self.user = None

        def log_message(self, *args):
            pass

        def reply(self, status, headers, payload):
            body = payload.encode('utf-8')
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def handle_any(self):
            length = int(self.headers.get('Content-Length') or 0)
            text = self.rfile.read(length).decode('utf-8', 'replace') if length else ''
            auth = self.headers.get('Authorization')
            scheme = auth.split(' ', 1)[0] if auth else '-'

            def done(status, headers, payload):
                say('REQUEST %d %s %d' % (self.conn_id, scheme, status))
                self.reply(status, headers, payload)

            if not auth:
                if self.user is not None:
                    return done(200, [('Content-Type', 'application/json')], self.result(text))
                return done(401, [('WWW-Authenticate', 'Negotiate')], 'authenticate, please')
            parts = auth.split(' ', 1)
            if parts[0].lower() != 'negotiate' or len(parts) != 2:
                return done(401, [('WWW-Authenticate', 'Negotiate')], 'Negotiate only')
            out = None
            try:
                token = base64.b64decode(parts[1], validate=True)
                if self.ctx is None or self.ctx.complete:
                    self.ctx = acceptor()
                    self.legs = 0
                    self.user = None
                self.legs += 1
                out = self.ctx.step(token)
                # python-gssapi keeps a failure that came with a token (a SPNEGO reject) for the next call.
                complete = self.ctx.complete
            except (gssapi.exceptions.GSSError, ValueError) as e:
                say('GSSERROR ' + ' '.join(str(e).split()))
                self.ctx = None
                value = 'Negotiate ' + base64.b64encode(out).decode() if out else 'Negotiate'
                return done(401, [('WWW-Authenticate', value)], 'refused')
            if not complete:
                return done(401, [('WWW-Authenticate', 'Negotiate ' + base64.b64encode(out).decode())], 'continue')
            self.user = str(self.ctx.initiator_name).rstrip('\x00')
            headers = [('Content-Type', 'application/json')]
            if out:
                headers.append(('WWW-Authenticate', 'Negotiate ' + base64.b64encode(out).decode()))
            return done(200, headers, self.result(text))

        def result(self, text):
            mech = self.ctx.mech.dotted_form if self.ctx is not None and self.ctx.mech else None
            bound = self.ctx is not None and bool(self.ctx.actual_flags & gssapi.RequirementFlag.channel_bound)
            return json.dumps({'user': self.user, 'mech': mech, 'connection': self.conn_id, 'legs': self.legs, 'body': text, 'channelBound': bound})

        do_GET = handle_any
        do_POST = handle_any
        do_PUT = handle_any

    return Handler


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--mech', choices=['ntlm', 'any'], default='ntlm')
    ap.add_argument('--tls', nargs=2, metavar=('CERT', 'KEY'))
    ap.add_argument('--bindings', choices=['own', 'other', 'none'], default='own')
    args = ap.parse_args()
    try:
        import gssapi
        import gssapi.raw as raw
    except ImportError as e:
        say('ERROR python gssapi module missing (%s): run scripts/install-peers.sh' % e)
        return 1
    bindings = None
    if args.tls:
        with open(args.tls[0], 'rb') as f:
            own = ssl.PEM_cert_to_DER_cert(f.read().decode('ascii'))
        from end_point import another_certificate, application_data
        if args.bindings == 'own':
            bindings = application_data(own)
        elif args.bindings == 'other':
            bindings = another_certificate()
    server = ThreadingHTTPServer(('127.0.0.1', 0), make_handler(gssapi, raw, args.mech, bindings))
    if args.tls:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.tls[0], args.tls[1])
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    say('READY %d' % server.server_address[1])

    def watch_stdin():
        # The test ends us by closing stdin.
        for _ in sys.stdin:
            pass
        server.shutdown()

    threading.Thread(target=watch_stdin, daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == '__main__':
    sys.exit(main())
