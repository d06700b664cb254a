#!/usr/bin/python3
"""An independent NTLM (or SPNEGO) GSS-API peer for interop tests: gss-ntlmssp through python3-gssapi.

Run with Debian's /usr/bin/python3 (the interpreter that has the gssapi module).

    ntlm_peer.py --role initiator --user 'EXAMPLE\\user' --password PW [--mech ntlm|spnego]
                 [--target HTTP@localhost] [--flags N]
    ntlm_peer.py --role acceptor [--mech ntlm|spnego]
        (the acceptor's users come from the file named by NTLM_USER_FILE, "DOMAIN:USER:PASSWORD" per line)

Line protocol on stdin/stdout: one request line in, one answer line out, ASCII, fields separated by
single spaces, every byte string base64 (standard alphabet, padded); "-" stands for an empty token.

    startup                 -> READY <mech-oid-dotted>            | ERROR <text> (then exit 1)
    STEP [<b64>]            -> CONTINUE <b64>                     (send it, more legs follow)
                             | COMPLETE <b64|->                   (context established; send the token if any)
                             | ERROR <text>
        The initiator's first STEP carries no token. The acceptor's STEP carries the peer's token.
    INFO                    -> INFO <json>   {"complete", "initiator", "target", "mech", "flags",
                                              "lifetime", "session_key" (hex or null)}; target is
                                              null on the acceptor
    WRAP <b64> [0|1]        -> WRAPPED <b64> <0|1>                (second field: confidentiality, default 1)
    UNWRAP <b64>            -> UNWRAPPED <b64> <0|1>              | ERROR <text>
    MIC <b64>               -> MIC <b64>                          (gss_get_mic over the message)
    VERIFY <b64msg> <b64mic>-> VERIFIED                           | ERROR <text>
    QUIT                    -> BYE, then exit 0 (end of stdin exits too)

Errors never end the session (except at startup): the test decides what an error means.
"""

import argparse
import base64
import json
import sys

NTLM_OID = '1.3.6.1.4.1.311.2.2.10'
SPNEGO_OID = '1.3.6.1.5.5.2'
# GSS_C_INQ_SSPI_SESSION_KEY: the context's session key, where the mechanism exposes it.
SESSION_KEY_OID = '1.2.840.113554.1.2.2.5.5'


def out(line):
    sys.stdout.write(line + '\n')
    sys.stdout.flush()


def one_line(err):
    return ' '.join(str(err).split())


def b64(data):
    return base64.b64encode(bytes(data)).decode('ascii') if data else '-'


def unb64(text):
    return b'' if text in (None, '', '-') else base64.b64decode(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--role', choices=['initiator', 'acceptor'], required=True)
    ap.add_argument('--mech', choices=['ntlm', 'spnego'], default='ntlm')
    ap.add_argument('--user', help='initiator: DOMAIN\\user')
    ap.add_argument('--password', help='initiator: password')
    ap.add_argument('--target', default='HTTP@localhost', help='initiator: host-based service name')
    ap.add_argument('--flags', type=int, default=None, help='initiator: requested GSS flags (integer)')
    args = ap.parse_args()

    try:
        import gssapi
        import gssapi.raw as raw
    except ImportError as e:
        out('ERROR python gssapi module missing (%s): run scripts/install-peers.sh' % one_line(e))
        return 1

    ntlm = gssapi.OID.from_int_seq(NTLM_OID)
    spnego = gssapi.OID.from_int_seq(SPNEGO_OID)
    mech = ntlm if args.mech == 'ntlm' else spnego

    try:
        if args.role == 'initiator':
            if not args.user or args.password is None:
                out('ERROR initiator needs --user and --password')
                return 1
            name = gssapi.Name(args.user, gssapi.NameType.user)
            got = raw.acquire_cred_with_password(name, args.password.encode('utf-8'),
                                                 usage='initiate', mechs=[mech])
            creds = gssapi.Credentials(base=got.creds)
            if mech == spnego:
                # Offer only NTLM inside SPNEGO (otherwise Kerberos is tried first).
                raw.set_neg_mechs(creds, [ntlm])
            flags = args.flags
            if flags is None:
                R = gssapi.RequirementFlag
                flags = (R.mutual_authentication | R.replay_detection | R.out_of_sequence_detection
                         | R.confidentiality | R.integrity)
            ctx = gssapi.SecurityContext(name=gssapi.Name(args.target, gssapi.NameType.hostbased_service),
                                         creds=creds, mech=mech, flags=flags, usage='initiate')
        else:
            creds = gssapi.Credentials(usage='accept', mechs=[mech])
            if mech == spnego:
                raw.set_neg_mechs(creds, [ntlm])
            ctx = gssapi.SecurityContext(creds=creds, usage='accept')
    except gssapi.exceptions.GSSError as e:
        out('ERROR ' + one_line(e))
        return 1

    out('READY ' + mech.dotted_form)

    for line in sys.stdin:
        parts = line.strip().split(' ')
        cmd = parts[0]
        try:
            if cmd == 'STEP':
                token = unb64(parts[1]) if len(parts) > 1 else None
                reply = ctx.step(token) if token else ctx.step()
                out(('COMPLETE ' if ctx.complete else 'CONTINUE ') + b64(reply))
            elif cmd == 'INFO':
                info = {'complete': bool(ctx.complete)}
                if ctx.complete:
                    # gss-ntlmssp's display names carry a trailing NUL.
                    info['initiator'] = str(ctx.initiator_name).rstrip('\x00') if ctx.initiator_name else None
                    # gss-ntlmssp's acceptor has no target name: asking for it crashes python-gssapi.
                    info['target'] = str(ctx.target_name).rstrip('\x00') if args.role == 'initiator' else None
                    info['mech'] = ctx.mech.dotted_form if ctx.mech else None
                    info['flags'] = int(ctx.actual_flags)
                    info['lifetime'] = ctx.lifetime
                    try:
                        keys = raw.inquire_sec_context_by_oid(ctx, gssapi.OID.from_int_seq(SESSION_KEY_OID))
                        info['session_key'] = bytes(keys[0]).hex() if keys else None
                    except gssapi.exceptions.GSSError:
                        info['session_key'] = None
                out('INFO ' + json.dumps(info, sort_keys=True))
            elif cmd == 'WRAP':
                conf = len(parts) < 3 or parts[2] != '0'
                res = ctx.wrap(unb64(parts[1]), conf)
                out('WRAPPED %s %d' % (b64(res.message), 1 if res.encrypted else 0))
            elif cmd == 'UNWRAP':
                res = ctx.unwrap(unb64(parts[1]))
                out('UNWRAPPED %s %d' % (b64(res.message), 1 if res.encrypted else 0))
            elif cmd == 'MIC':
                out('MIC ' + b64(ctx.get_signature(unb64(parts[1]))))
            elif cmd == 'VERIFY':
                ctx.verify_signature(unb64(parts[1]), unb64(parts[2]))
                out('VERIFIED')
            elif cmd == 'QUIT':
                out('BYE')
                return 0
            else:
                out('ERROR unknown command ' + cmd)
        except gssapi.exceptions.GSSError as e:
            out('ERROR ' + one_line(e))
        except (IndexError, ValueError) as e:
            out('ERROR bad request: ' + one_line(e))
    return 0


if __name__ == '__main__':
    sys.exit(main())
