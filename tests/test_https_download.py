"""Model downloads over HTTPS: which certificates are trusted, and what an untrusted server looks like.

A certificate authority made here signs a certificate for 127.0.0.1, and the test
server serves the test model over HTTPS with it. The download works when that CA
is trusted (INPAINT_STUDIO_CA_BUNDLE, or SSL_CERT_FILE) and fails with one line
that names the URL and the certificate when it is not (the system's trust store
has never heard of it).
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from model_server import FILE_PATH, running_server
from test_models_store import DATA, tiny_catalogue

from inpaint_studio.core.errors import ModelError
from inpaint_studio.models import CA_BUNDLE_ENV, ModelStore
from inpaint_studio.models.trust import ssl_context


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_server_cert(ca_key, ca_cert: x509.Certificate) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """Files: the test CA ("ca.pem"), another CA that signed nothing here ("other-ca.pem"), the server's key and chain."""
    folder = tmp_path_factory.mktemp("pki")
    ca_key, ca_cert = make_ca("Inpaint Studio test CA")
    _, other_cert = make_ca("Some other CA")
    key, cert = make_server_cert(ca_key, ca_cert)
    (folder / "ca.pem").write_bytes(pem(ca_cert))
    (folder / "other-ca.pem").write_bytes(pem(other_cert))
    (folder / "server.pem").write_bytes(pem(cert) + pem(ca_cert))
    (folder / "server.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return folder


@pytest.fixture
def https_server(pki):
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(pki / "server.pem", pki / "server.key")
    with running_server(tls) as state:
        state.files[FILE_PATH] = DATA
        yield state


@pytest.fixture
def no_bundle(monkeypatch):
    """Neither variable set: the system's trust store decides."""
    monkeypatch.delenv(CA_BUNDLE_ENV, raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)


def store_for(tmp_path, server) -> ModelStore:
    return ModelStore(tmp_path / "models", catalogue=tiny_catalogue(server.url()))


def test_a_download_from_a_server_whose_ca_is_trusted_works(tmp_path, https_server, pki, no_bundle, monkeypatch):
    monkeypatch.setenv(CA_BUNDLE_ENV, str(pki / "ca.pem"))
    store = store_for(tmp_path, https_server)
    assert https_server.url().startswith("https://127.0.0.1:")
    assert store.download("tiny").read_bytes() == DATA
    assert store.trust("tiny") == "catalogue"


def test_ssl_cert_file_is_honoured_too(tmp_path, https_server, pki, no_bundle, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(pki / "ca.pem"))
    assert store_for(tmp_path, https_server).download("tiny").read_bytes() == DATA


def check_refused(store: ModelStore, server) -> str:
    with pytest.raises(ModelError) as caught:
        store.download("tiny")
    message = str(caught.value)
    assert "\n" not in message
    assert f"Could not download tiny.pt from {server.url()}: the server's certificate is not trusted" in message
    assert f"set {CA_BUNDLE_ENV}" in message and f"save it as {store.file_path('tiny')}" in message
    assert not store.folder("tiny").exists()
    assert https_server_saw_no_request(server)
    return message


def https_server_saw_no_request(server) -> bool:
    return server.requests == []  # refused during the handshake, before any HTTP


def test_a_server_the_system_does_not_trust_is_refused_with_a_clear_message(tmp_path, https_server, no_bundle):
    message = check_refused(store_for(tmp_path, https_server), https_server)
    assert "checked against the system's certificates" in message


def test_a_server_signed_by_another_ca_than_the_named_one_is_refused(tmp_path, https_server, pki, no_bundle, monkeypatch):
    monkeypatch.setenv(CA_BUNDLE_ENV, str(pki / "other-ca.pem"))
    message = check_refused(store_for(tmp_path, https_server), https_server)
    assert f"checked against the certificates in {pki / 'other-ca.pem'} ({CA_BUNDLE_ENV})" in message


def test_a_missing_or_unusable_bundle_is_named(tmp_path, https_server, no_bundle, monkeypatch):
    monkeypatch.setenv(CA_BUNDLE_ENV, str(tmp_path / "nowhere.pem"))
    with pytest.raises(ModelError, match=f"nowhere.pem \\(named by {CA_BUNDLE_ENV}\\) does not exist"):
        store_for(tmp_path, https_server).download("tiny")
    (tmp_path / "junk.pem").write_text("not a certificate")
    monkeypatch.setenv(CA_BUNDLE_ENV, str(tmp_path / "junk.pem"))
    with pytest.raises(ModelError, match="junk.pem .* cannot be used"):
        store_for(tmp_path, https_server).download("tiny")


def test_without_a_bundle_the_system_trust_store_is_used(no_bundle):
    import truststore

    assert isinstance(ssl_context(), truststore.SSLContext)
    assert ssl_context() is ssl_context()  # built once
