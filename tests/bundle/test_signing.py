"""Signed bundles: a re-hashed tampered bundle is refused; unsigned only when allowed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from berth.bundle import MANIFEST, _content_hash, _sha256
from berth.cli import app
from berth.errors import BundleIntegrityError
from berth.registry import load_scorer, load_scorer_from_folder
from berth.settings import Settings
from berth.signing import create_keypair, sign_bundle
from berth.training import TrainedModel


@pytest.fixture
def signed(tmp_path: Path, trained: TrainedModel) -> tuple[Path, Path, Path]:
    folder = tmp_path / "bundle"
    trained.bundle.save(folder)
    private, public = create_keypair(tmp_path / "keys")
    sign_bundle(folder, private)
    return folder, private, public


def _rehash(folder: Path) -> None:
    """What an attacker with write access does: recompute the manifest after an edit."""
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["files"] = {name: _sha256(folder / name) for name in manifest["files"]}
    manifest["content_hash"] = _content_hash(manifest["files"])
    (folder / MANIFEST).write_text(json.dumps(manifest))


def test_signed_bundle_loads_and_a_rehashed_edit_is_refused(signed: tuple[Path, Path, Path]) -> None:
    folder, _, public = signed
    assert (
        load_scorer_from_folder(folder, public_keys=[public], allow_unsigned=False).bundle.churn is not None
    )
    (folder / "risk_bands.json").write_text(json.dumps({"medium": 0.9, "high": 0.95, "critical": 0.99}))
    _rehash(folder)
    with pytest.raises(BundleIntegrityError, match="signature is for other content"):
        load_scorer_from_folder(folder, public_keys=[public], allow_unsigned=False)


def test_unsigned_or_foreign_signatures_are_refused_unless_allowed(
    tmp_path: Path, signed: tuple[Path, Path, Path]
) -> None:
    folder, _, public = signed
    other_private, other_public = create_keypair(tmp_path / "other")
    with pytest.raises(BundleIntegrityError, match="any trusted public key"):
        load_scorer_from_folder(folder, public_keys=[other_public], allow_unsigned=False)
    unsigned = tmp_path / "unsigned"
    shutil.copytree(folder, unsigned)
    (unsigned / "signature.json").unlink()
    with pytest.raises(BundleIntegrityError, match="not signed"):
        load_scorer_from_folder(unsigned, public_keys=[public], allow_unsigned=False)
    assert load_scorer_from_folder(unsigned, allow_unsigned=True).bundle.churn is not None
    # the service's loader follows its settings
    settings = Settings(model_source=str(unsigned), bundle_public_keys=str(public))
    with pytest.raises(BundleIntegrityError):
        load_scorer(settings)
    assert (
        load_scorer(Settings(model_source=str(folder), bundle_public_keys=f"{other_public},{public}"))
        is not None
    )
    assert load_scorer(Settings(model_source=str(unsigned), allow_unsigned_bundles=True)) is not None
    del other_private


def test_keys_create_cli_refuses_to_overwrite(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["keys", "create", "--out", str(tmp_path / "k")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "k" / "bundle_signing.pem").stat().st_mode & 0o077 == 0, "the private key is private"
    again = CliRunner().invoke(app, ["keys", "create", "--out", str(tmp_path / "k")])
    assert again.exit_code == 2
    assert "refusing to overwrite" in again.output
