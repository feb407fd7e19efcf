"""Signed model bundles: who exported a bundle, not only that its files are intact.

A bundle's manifest proves integrity (every file's SHA-256 and a content hash over them), but
anyone who can write the folder can also recompute the manifest. ``berth export --sign-key``
therefore signs the content hash with an Ed25519 private key (``cryptography``) and writes
``signature.json`` beside the manifest; the service loads a bundle folder only when the
signature verifies against one of its trusted public keys (``BERTH_BUNDLE_PUBLIC_KEYS``), unless
unsigned bundles are explicitly allowed (``BERTH_ALLOW_UNSIGNED_BUNDLES=true``).

Keys are PEM files made by ``berth keys create``: keep the private key with whoever exports
models, give the public key to the services.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from berth.errors import BundleIntegrityError

SIGNATURE = "signature.json"
_CONTEXT = b"berth-bundle-v1:"


def create_keypair(folder: Path, name: str = "bundle_signing") -> tuple[Path, Path]:
    """Write ``<name>.pem`` (private, mode 0600) and ``<name>.pub.pem`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    private_path, public_path = folder / f"{name}.pem", folder / f"{name}.pub.pem"
    if private_path.exists():
        raise FileExistsError(f"{private_path} exists: refusing to overwrite a signing key")
    key = Ed25519PrivateKey.generate()
    private_bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(private_bytes)
    public_path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private_path, public_path


def _public_id(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _content_hash(folder: Path) -> str:
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        raise BundleIntegrityError(f"{folder}: no manifest.json; not a Berth model bundle")
    return str(json.loads(manifest.read_text(encoding="utf-8"))["content_hash"])


def sign_bundle(folder: Path, private_key: Path) -> str:
    """Sign the bundle's content hash; write ``signature.json``; return the key id."""
    key = serialization.load_pem_private_key(private_key.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{private_key}: not an Ed25519 private key (make one with berth keys create)")
    content_hash = _content_hash(folder)
    signature = key.sign(_CONTEXT + content_hash.encode())
    key_id = _public_id(key.public_key())
    payload = {
        "algorithm": "ed25519",
        "content_hash": content_hash,
        "key_id": key_id,
        "signature": base64.b64encode(signature).decode(),
    }
    (folder / SIGNATURE).write_text(json.dumps(payload, indent=2, sort_keys=True), encoding="utf-8")
    return key_id


def load_public_keys(paths: Sequence[Path]) -> list[Ed25519PublicKey]:
    """Trusted public keys from PEM files."""
    keys = []
    for path in paths:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError(f"{path}: not an Ed25519 public key")
        keys.append(key)
    return keys


def verify_signature(folder: Path, trusted: Sequence[Ed25519PublicKey]) -> str:
    """The key id that signed this bundle's current content; BundleIntegrityError otherwise."""
    path = folder / SIGNATURE
    if not path.is_file():
        raise BundleIntegrityError(
            f"{folder}: the bundle is not signed; export it with berth export --sign-key, or set "
            "BERTH_ALLOW_UNSIGNED_BUNDLES=true to serve unsigned bundles"
        )
    if not trusted:
        raise BundleIntegrityError(
            f"{folder}: no trusted public key configured (BERTH_BUNDLE_PUBLIC_KEYS) to verify its signature"
        )
    payload = json.loads(path.read_text(encoding="utf-8"))
    content_hash = _content_hash(folder)
    if payload.get("content_hash") != content_hash:
        raise BundleIntegrityError(f"{folder}: the signature is for other content than the manifest's")
    signature = base64.b64decode(payload.get("signature", ""))
    for key in trusted:
        try:
            key.verify(signature, _CONTEXT + content_hash.encode())
        except InvalidSignature:
            continue
        return _public_id(key)
    raise BundleIntegrityError(f"{folder}: the signature does not verify against any trusted public key")
