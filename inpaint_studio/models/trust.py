"""Which certificate authorities a model download trusts.

urllib's default context reads the CA certificates from where the OpenSSL it was
built with expects them. A frozen app carries the build machine's OpenSSL, whose
paths may not exist on another Linux distribution, and then every HTTPS download
fails. So downloads use, in this order:

- the PEM file (or folder of hashed certificates) named by INPAINT_STUDIO_CA_BUNDLE,
  else by SSL_CERT_FILE: for a company proxy that signs HTTPS traffic with its own
  CA. It replaces the system's list, as curl's --cacert does;
- the operating system's trust store through `truststore` (Windows and macOS ask
  the system; Linux finds the distribution's bundle wherever it is);
- certifi's copy of Mozilla's list, where truststore is missing or fails.

The context is built once per bundle setting.
"""

from __future__ import annotations

import functools
import logging
import os
import ssl
from pathlib import Path

from inpaint_studio.core.errors import ModelError

CA_BUNDLE_ENV = "INPAINT_STUDIO_CA_BUNDLE"

log = logging.getLogger(__name__)


def ca_bundle_setting() -> str | None:
    """The CA bundle the user named (INPAINT_STUDIO_CA_BUNDLE, else SSL_CERT_FILE), or None."""
    return os.environ.get(CA_BUNDLE_ENV) or os.environ.get("SSL_CERT_FILE") or None


def ssl_context() -> ssl.SSLContext:
    """The context HTTPS downloads verify servers with (see the module's docstring)."""
    return _context(ca_bundle_setting())


def trust_source() -> str:
    """Where the certificates trusted for downloads come from, in words (for logs and messages)."""
    return _describe(ca_bundle_setting())


@functools.lru_cache(maxsize=4)
def _context(bundle: str | None) -> ssl.SSLContext:
    if bundle:
        return _bundle_context(bundle)
    try:
        import truststore
    except ImportError:
        log.info("truststore is not installed; downloads trust certifi's certificates")
    else:
        return truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        import certifi
    except ImportError:
        log.warning("neither truststore nor certifi is installed; downloads trust OpenSSL's default certificate paths")
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


def _bundle_context(bundle: str) -> ssl.SSLContext:
    path = Path(bundle).expanduser()
    try:
        if path.is_dir():
            return ssl.create_default_context(capath=str(path))
        return ssl.create_default_context(cafile=str(path))
    except FileNotFoundError:
        raise ModelError(f"The CA certificate file {path} (named by {_variable(bundle)}) does not exist.") from None
    except (OSError, ssl.SSLError) as error:
        reason = getattr(error, "reason", None) or getattr(error, "strerror", None) or "not PEM certificates"
        raise ModelError(
            f"The CA certificate file {path} (named by {_variable(bundle)}) cannot be used: {str(reason).lower()}."
        ) from None


def _variable(bundle: str) -> str:
    return CA_BUNDLE_ENV if os.environ.get(CA_BUNDLE_ENV) == bundle else "SSL_CERT_FILE"


def _describe(bundle: str | None) -> str:
    if bundle:
        return f"the certificates in {bundle} ({_variable(bundle)})"
    import importlib.util

    if importlib.util.find_spec("truststore"):
        return "the system's certificates"
    if importlib.util.find_spec("certifi"):
        return "certifi's certificates"
    return "OpenSSL's default certificates"
