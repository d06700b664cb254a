#!/usr/bin/python3
"""One GET over HTTPS with Negotiate from MIT's GSS-API (python3-gssapi, SPNEGO with Kerberos),
binding the Kerberos authenticator to the TLS channel, for the HTTP server interop tests.

Run with Debian's /usr/bin/python3, with KRB5_CONFIG and KRB5CCNAME naming the realm and a ticket
cache.

    gssapi_http_get.py URL --ca FILE [--bindings own|other|none] [--target HTTP@host]

    --bindings  own: RFC 5929 tls-server-end-point of the certificate the server showed (default);
                other: of a certificate it did not show (what a client talking to a relay binds);
                none: no channel bindings
    --target    the service name (default HTTP@<host of the URL>)

On one connection: the bare request, then the token after the 401, then the server's final token
checked (mutual authentication). Prints one JSON line: {"status": n, "body": text,
"legs": [statuses], "mutual": whether the final token verified, "error": null or the failure}.
"""

import argparse
import base64
import http.client
import json
import ssl
from urllib.parse import urlsplit

import gssapi
import gssapi.raw as raw

from end_point import another_certificate, application_data

SPNEGO_OID = '1.3.6.1.5.5.2'


def negotiate_token(value):
    for part in (value or '').split(','):
        p = part.strip()
        if p.lower().startswith('negotiate '):
            return base64.b64decode(p.split(' ', 1)[1])
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('url')
    ap.add_argument('--ca', required=True)
    ap.add_argument('--bindings', choices=['own', 'other', 'none'], default='own')
    ap.add_argument('--target')
    a = ap.parse_args()
    u = urlsplit(a.url)
    conn = http.client.HTTPSConnection(u.hostname, u.port, context=ssl.create_default_context(cafile=a.ca), timeout=20)
    legs = []
    out = {'status': 0, 'body': '', 'legs': legs, 'mutual': False, 'error': None}
    try:
        conn.request('GET', u.path or '/')
        r = conn.getresponse()
        r.read()
        legs.append(r.status)
        if r.status != 401:
            out.update(status=r.status)
            return out
        cb = None
        if a.bindings != 'none':
            data = application_data(conn.sock.getpeercert(binary_form=True)) if a.bindings == 'own' else another_certificate()
            cb = raw.ChannelBindings(application_data=data)
        name = gssapi.Name(a.target or 'HTTP@' + u.hostname, gssapi.NameType.hostbased_service)
        flags = gssapi.RequirementFlag.mutual_authentication | gssapi.RequirementFlag.out_of_sequence_detection
        ctx = gssapi.SecurityContext(name=name, usage='initiate', mech=gssapi.OID.from_int_seq(SPNEGO_OID), flags=flags, channel_bindings=cb)
        token = ctx.step()
        conn.request('GET', u.path or '/', headers={'Authorization': 'Negotiate ' + base64.b64encode(token).decode()})
        r = conn.getresponse()
        body = r.read().decode('utf-8', 'replace')
        legs.append(r.status)
        out.update(status=r.status, body=body)
        final = negotiate_token(r.getheader('WWW-Authenticate'))
        if r.status == 200 and final is not None:
            ctx.step(final)
            out['mutual'] = ctx.complete
    except Exception as e:  # the test reads what failed
        out['error'] = '%s: %s' % (type(e).__name__, ' '.join(str(e).split()))
    finally:
        conn.close()
    return out


if __name__ == '__main__':
    print(json.dumps(main()))
