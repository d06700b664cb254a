"""RFC 5929 tls-server-end-point channel bindings, shared by the Python peers of the HTTP tests."""

import hashlib


def end_point_hash(cert_der):
    """The certificate hashed with its signature's hash algorithm (SHA-256 in place of MD5 or SHA-1)."""
    from cryptography import x509
    algo = x509.load_der_x509_certificate(cert_der).signature_hash_algorithm
    name = algo.name if algo is not None and algo.name not in ('md5', 'sha1') else 'sha256'
    return hashlib.new(name, cert_der).digest()


def application_data(cert_der):
    """The channel bindings' application data for a TLS server with this certificate (DER)."""
    return b'tls-server-end-point:' + end_point_hash(cert_der)


def another_certificate():
    """Application data for a certificate nobody here has: what a client talking to a relay binds."""
    return b'tls-server-end-point:' + hashlib.sha256(b'another certificate').digest()
