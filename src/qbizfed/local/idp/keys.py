"""The dev IdP's signing material: one RSA key, its self-signed certificate and its JWK.

Generated at start, or loaded from (and saved to) a state directory so that IAM
providers created against an earlier run keep trusting the IdP. The private key never
leaves this object except to the signing libraries (joserfc, signxml).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from joserfc.jwk import RSAKey

from qbizfed.errors import ConfigError

KEY_FILE = "idp-signing-key.pem"
CERT_FILE = "idp-signing-cert.pem"


@dataclass(frozen=True)
class SigningMaterial:
    """Private key (hidden from repr), certificate and the matching JWK."""

    private_key: rsa.RSAPrivateKey = field(repr=False)
    certificate: x509.Certificate
    jwk: RSAKey = field(repr=False)

    @property
    def kid(self) -> str:
        return str(self.jwk.kid)

    @property
    def certificate_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def certificate_base64(self) -> str:
        """The DER certificate in base64 without PEM armour, as SAML metadata wants it."""
        lines = self.certificate_pem.strip().splitlines()
        return "".join(line for line in lines if not line.startswith("-----"))

    @property
    def private_key_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def public_jwks(self) -> dict[str, Any]:
        """The JWKS document: the public key only, with ``use``, ``alg`` and ``kid``."""
        public = self.jwk.as_dict(private=False)
        public.update({"use": "sig", "alg": "RS256", "kid": self.kid})
        return {"keys": [public]}


def _self_signed(key: rsa.RSAPrivateKey, common_name: str) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "qbizfed dev IdP (not for production)"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


def _material(key: rsa.RSAPrivateKey, cert: x509.Certificate) -> SigningMaterial:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    jwk = RSAKey.import_key(pem)
    jwk.ensure_kid()
    return SigningMaterial(private_key=key, certificate=cert, jwk=jwk)


def generate_signing_material(common_name: str = "qbizfed-dev-idp") -> SigningMaterial:
    """A fresh 2048-bit RSA key and a ten-year self-signed certificate."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _material(key, _self_signed(key, common_name))


def load_or_create_signing_material(state_dir: Path | None) -> SigningMaterial:
    """Reuse the key and certificate in ``state_dir``; create and save them if absent."""
    if state_dir is None:
        return generate_signing_material()
    key_path, cert_path = state_dir / KEY_FILE, state_dir / CERT_FILE
    try:
        if key_path.exists() and cert_path.exists():
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            if not isinstance(key, rsa.RSAPrivateKey):
                raise ConfigError(
                    f"{key_path} does not hold an RSA private key",
                    remedy="delete the state directory's key and certificate to make new ones",
                )
            return _material(key, cert)
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        material = generate_signing_material()
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(material.private_key_pem)
        cert_path.write_text(material.certificate_pem, encoding="ascii")
        return material
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot use the IdP state directory {state_dir}: {exc}",
            remedy="pass a writable --state-dir, or delete its damaged key files",
        ) from exc
