#!/usr/bin/python3
"""One GET with requests + requests-kerberos (pykerberos over MIT's GSS-API), for the HTTP server
interop tests.

Run with Debian's /usr/bin/python3 (python3-requests-kerberos), with KRB5_CONFIG and KRB5CCNAME
naming the realm and a ticket cache.

    requests_kerberos_get.py URL [--no-cbt] [--preemptive] [--ca FILE]

    --no-cbt       no channel bindings over HTTPS (send_cbt=False)
    --preemptive   send the token with the first request (force_preemptive=True)
    --ca FILE      trust this CA for the server's certificate

Mutual authentication is REQUIRED: the server's final token must verify, or the request fails.
Prints one JSON line: {"status": n, "body": text, "legs": [status of each response, in order],
"error": null or the exception's class and text}.
"""

import argparse
import json

import requests
from requests_kerberos import REQUIRED, HTTPKerberosAuth


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument('url')
    p.add_argument('--no-cbt', action='store_true')
    p.add_argument('--preemptive', action='store_true')
    p.add_argument('--ca')
    a = p.parse_args()
    auth = HTTPKerberosAuth(mutual_authentication=REQUIRED, send_cbt=not a.no_cbt, force_preemptive=a.preemptive)
    try:
        with requests.Session() as s:
            r = s.get(a.url, auth=auth, verify=a.ca or True, timeout=20)
            legs = [h.status_code for h in r.history] + [r.status_code]
            print(json.dumps({'status': r.status_code, 'body': r.text, 'legs': legs, 'error': None}))
    except Exception as e:  # the test reads what failed (a mutual authentication error, ...)
        print(json.dumps({'status': 0, 'body': '', 'legs': [], 'error': f'{type(e).__name__}: {e}'}))


if __name__ == '__main__':
    main()
