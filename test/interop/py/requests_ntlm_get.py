#!/usr/bin/python3
"""One GET with requests + requests-ntlm (NTLM from the pure-Python ntlm-auth library), for the
HTTP server interop tests.

Run with Debian's /usr/bin/python3 (python3-requests-ntlm). ntlm-auth hashes the password with
hashlib's MD4, which Debian 12's OpenSSL 3 only has in its legacy provider: give OPENSSL_CONF a
configuration that activates it.

    requests_ntlm_get.py URL DOMAIN\\USER [--no-cbt] [--ca FILE]   (password on stdin)

    --no-cbt    no channel bindings over HTTPS (requests-ntlm's send_cbt=False)
    --ca FILE   trust this CA for the server's certificate

Prints one JSON line: {"status": n, "body": text, "legs": [status of each response, in order]}.
"""

import argparse
import json
import sys

import requests
from requests_ntlm import HttpNtlmAuth


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument('url')
    p.add_argument('user')
    p.add_argument('--no-cbt', action='store_true')
    p.add_argument('--ca')
    a = p.parse_args()
    password = sys.stdin.readline().rstrip('\n')
    with requests.Session() as s:
        r = s.get(a.url, auth=HttpNtlmAuth(a.user, password, send_cbt=not a.no_cbt), verify=a.ca or True, timeout=20)
        legs = [h.status_code for h in r.history] + [r.status_code]
        print(json.dumps({'status': r.status_code, 'body': r.text, 'legs': legs}))


if __name__ == '__main__':
    main()
