"""HTTPS for `python wsgi.py`: browsers give the camera only to secure origins.

TLS_CERT and TLS_KEY name a certificate and its key. For development on
another machine of your network, TLS_SELF_SIGNED=1 makes a self-signed
certificate (once, under the instance folder) for localhost, 127.0.0.1 and
HOST; the browser warns about it once and then allows the camera. For a real
site, terminate HTTPS at a reverse proxy instead (see deploy/nginx.conf).
"""
import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _names(host):
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    try:
        address = ipaddress.ip_address(host)
        if not address.is_unspecified and str(address) != "127.0.0.1":
            names.append(x509.IPAddress(address))
    except ValueError:
        if host and host != "localhost":
            names.append(x509.DNSName(host))
    return names


def make_self_signed(cert_path, key_path, host="localhost", days=365):
    """Write a self-signed certificate and its private key (PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "emotion-webapp development")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(_names(host)), critical=False)
        .sign(key, hashes.SHA256())
    )
    os.makedirs(os.path.dirname(cert_path), exist_ok=True)
    with open(key_path, "wb") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    with open(cert_path, "wb") as f:
        f.write(certificate.public_bytes(serialization.Encoding.PEM))


def tls_files(config):
    """(certfile, keyfile) to serve HTTPS with, or None for plain HTTP."""
    if config.get("TLS_CERT") and config.get("TLS_KEY"):
        return config["TLS_CERT"], config["TLS_KEY"]
    if not config.get("TLS_SELF_SIGNED"):
        return None
    folder = os.path.join(os.path.dirname(config["JOBS_DIR"]), "tls")
    cert_path, key_path = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
    if not (os.path.isfile(cert_path) and os.path.isfile(key_path)):
        make_self_signed(cert_path, key_path, config.get("HOST", "localhost"))
    return cert_path, key_path
