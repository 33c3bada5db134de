"""The alias store and what vouches for a model: the shared alias's signature, a failed gate
that a follower refuses, deep JSON as one line, metadata under the content hash, and models
brought by BentoML's own export and import accepted only when their seal (or the user) vouches."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mle_challenge.cli import main
from mle_challenge.config import get_settings
from mle_challenge.lifecycle import production, shared, store
from tests.unit.lifecycle.conftest import register_dummy

pytestmark = pytest.mark.unit

KEY = "k" * 32
DEEP = "[" * 100_000


@pytest.fixture(autouse=True)
def _forget_seen_histories() -> Iterator[None]:
    """Each test's follower starts having read no history (each test has its own store)."""
    production._seen_history.clear()
    yield
    production._seen_history.clear()


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> Iterator[bytes]:
    """MLE_SIGNING_KEY set for this test."""
    monkeypatch.setenv("MLE_SIGNING_KEY", KEY)
    get_settings.cache_clear()
    yield KEY.encode()
    get_settings.cache_clear()


def _gated(model: Any, fingerprint: str, passed: bool = True) -> str:
    tag = register_dummy(model, fingerprint)
    store.update_card(tag, gate={"passed": passed, "checks": [{"name": "x", "passed": passed}]})
    return tag


def _s3_body(alias: dict[str, Any] | None, history: list[Any], key: bytes | None) -> bytes:
    body: dict[str, Any] = {"alias": alias, "history": history}
    if key is not None:
        body["signature"] = shared.hmac_signature(shared._signed_part(alias, history), key)
    return json.dumps(body).encode()


_ALIAS = {"tag": "price_classifier:v1", "content_hash": "h", "since": "t", "user": "u",
          "reason": "r", "previous": []}  # fmt: skip


def test_a_signed_shared_alias_is_read(key: bytes) -> None:
    """Check that an alias object signed with our key gives its alias and history."""
    state = shared.S3AliasStore("price_classifier", "s3://b/r")._checked(
        _s3_body(_ALIAS, [{"action": "promote"}], key)
    )
    assert state.alias == _ALIAS and state.history == [{"action": "promote"}]


@pytest.mark.parametrize(
    ("signed_with", "edit", "says"),
    [
        (None, {}, "is not signed"),
        (b"x" * 32, {}, "not signed with this MLE_SIGNING_KEY"),
        (KEY.encode(), {"tag": "price_classifier:forged"}, "not signed with this MLE_SIGNING_KEY"),
    ],
)
def test_an_alias_not_signed_with_our_key_is_refused(
    key: bytes, signed_with: bytes | None, edit: dict[str, str], says: str
) -> None:
    """Check that an unsigned alias, one signed with another key, and one edited after it was
    signed are all refused, saying production stays as it was."""
    body = json.loads(_s3_body(_ALIAS, [], signed_with))
    body["alias"] |= edit
    with pytest.raises(shared.UntrustedAlias, match=says) as refused:
        shared.S3AliasStore("price_classifier", "s3://b/r")._checked(json.dumps(body).encode())
    assert "production stays as it was" in str(refused.value)


def test_a_shared_alias_cannot_be_checked_without_the_key() -> None:
    """Check that without MLE_SIGNING_KEY the shared alias is refused, naming the setting."""
    get_settings.cache_clear()
    with pytest.raises(shared.UntrustedAlias, match="without MLE_SIGNING_KEY"):
        shared.S3AliasStore("price_classifier", "s3://b/r")._checked(
            _s3_body(_ALIAS, [], KEY.encode())
        )


def test_deep_json_in_the_shared_alias_is_one_clear_error(key: bytes) -> None:
    """Check that [ × 100,000 in the alias object is refused, not a RecursionError."""
    with pytest.raises(shared.UntrustedAlias, match="nested too deeply"):
        shared.S3AliasStore("price_classifier", "s3://b/r")._checked(DEEP.encode())


@pytest.mark.parametrize("file", ["production.json", "history.jsonl", "card"])
@pytest.mark.parametrize(
    "command", [["models", "list"], ["models", "history"], ["rollback"], ["promote", "TAG"]]
)
def test_deep_json_in_a_local_file_is_one_line_and_exit_2(
    home: Path, fitted: Any, file: str, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Check that deep nesting in the alias, its history or a card gives exit 2 and one
    line naming the file, never a RecursionError traceback."""
    tag = _gated(fitted, "f1")
    production.promote(tag)
    production.promote(_gated(fitted, "f2"))  # so that rollback goes back to ``tag``
    if file == "card":
        name, version = tag.split(":")
        path = home / "mle_challenge" / "cards" / name / f"{version}.json"
    else:
        path = home / "mle_challenge" / "aliases" / "price_classifier" / file
    path.write_text(DEEP)
    args = [tag if a == "TAG" else a for a in command]
    code = main(args)
    out, err = capsys.readouterr()
    if file == "card" and command[0] == "models":
        assert code == 0, err  # the history reads no card, and the list names the damage
        assert "nested too deeply" in out or command[1] == "history"
        return
    assert code == 2, err
    assert err.count("\n") == 1 and "nested too deeply" in err, err


def test_deep_json_reads_as_a_value_error() -> None:
    """Check that json_loads turns the parser's RecursionError into a ValueError."""
    with pytest.raises(ValueError, match="nested too deeply"):
        store.json_loads(DEEP)


def test_the_alias_records_the_gate_verdict_and_a_follower_refuses_a_failed_one(
    home: Path, fitted: Any
) -> None:
    """Check that a forced promotion of a failed model is followed, and that the same alias
    without `forced` (as a forger would write it) is refused by followers."""
    tag = _gated(fitted, "f1", passed=False)
    alias = production.promote(tag, force=True, reason="known issue")
    assert (alias.gate, alias.forced) == ("failed", True)
    assert production.followable_tag() == tag
    path = home / "mle_challenge" / "aliases" / "price_classifier" / "production.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | {"forced": False}))
    for resolve in (production.followable_tag, production.production_tag):
        with pytest.raises(shared.UntrustedAlias, match="gate failed"):
            resolve()
    assert production.history()[-1]["gate"] == "failed"


def test_a_follower_keeps_its_model_when_the_alias_is_refused() -> None:
    """Check that a refused alias is counted at every poll and changes nothing."""
    from mle_challenge.serving.follow import Follower

    def refused(name: str) -> str | None:
        raise shared.UntrustedAlias("the shared alias is not signed")

    counted: list[tuple[str, str]] = []
    current: Any = type("S", (), {"tag": "price_classifier:v1"})()
    follower = Follower(
        "price_classifier", current, interval=1, max_batch=1, swap=lambda s: None,
        count=lambda r, d: counted.append((r, d)), production=refused,
    )  # fmt: skip
    assert follower.poll() is None and follower.poll() is None
    assert counted == [("untrusted", "price_classifier")] * 2
    assert follower.current_tag == "price_classifier:v1"


def test_edited_metadata_is_damage(home: Path, fitted: Any) -> None:
    """Check that an accuracy or a candidate edited in model.yaml makes the model refused and
    listed as damaged, rather than shown as genuine."""
    import yaml

    tag = register_dummy(fitted)
    name, version = tag.split(":")
    path = home / "models" / name / version / "model.yaml"
    info = yaml.safe_load(path.read_text())
    info["metadata"]["metrics"]["accuracy"] = 0.99
    path.write_text(yaml.safe_dump(info))
    (row,) = production.listing().rows
    assert "does not match" in row["problem"]
    with pytest.raises(store.IntegrityError):
        store.verified(tag)


def test_an_older_hash_still_verifies_and_is_shown_as_not_covering_metadata(
    home: Path, fitted: Any
) -> None:
    """Check that a card with an artifacts-sha256 hash still verifies, and that its row
    says its metadata is unverified."""
    tag = register_dummy(fitted)
    older = "artifacts-sha256:" + store._yaml_digest(store.model_path(tag), shown=False)
    store.update_card(tag, content_hash=older)
    assert store.verified(tag) == tag
    (row,) = production.listing().rows
    assert row["problem"] is None and row["metadata_verified"] is False


def test_no_label_says_the_stage(home: Path, fitted: Any) -> None:
    """Check that a registered model carries no `stage` label, which could only go stale."""
    import bentoml

    tag = register_dummy(fitted)
    assert "stage" not in bentoml.models.get(tag).info.labels


def _exported_and_imported(tag: str, tmp_path: Path) -> str:
    """``tag`` moved as BentoML's own tools move it: export, delete (card and all), import."""
    import bentoml

    archive = str(tmp_path / "moved.bentomodel")
    bentoml.models.export_model(tag, archive)
    bentoml.models.delete(tag)
    name, version = tag.split(":")
    (store.state_dir() / "cards" / name / f"{version}.json").unlink()
    bentoml.models.import_model(archive)
    return tag


def test_a_sealed_model_moved_by_bentoml_is_accepted(
    home: Path, fitted: Any, key: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Check that a model moved by `bentoml models export/import` is listed with the fix,
    and that `models accept` checks its seal and records it, after which it verifies."""
    tag = _exported_and_imported(register_dummy(fitted), tmp_path)
    (row,) = production.listing().rows
    assert f"mle-challenge models accept {tag}" in row["problem"]
    assert main(["models", "accept", tag]) == 0
    assert "signed seal matches" in capsys.readouterr().out
    assert store.verified(tag) == tag


def test_a_tampered_sealed_model_is_not_accepted(
    home: Path, fitted: Any, key: bytes, tmp_path: Path
) -> None:
    """Check that a model whose files changed after it was sealed is refused, even with
    --trust."""
    tag = _exported_and_imported(register_dummy(fitted), tmp_path)
    pickle = store.model_path(tag) / "saved_model.pkl"
    pickle.write_bytes(pickle.read_bytes()[:-1] + b"\0")
    for trust in (False, True):
        with pytest.raises(store.IntegrityError, match="does not match the content hash"):
            store.accept(tag, trust=trust)


def test_an_unsealed_model_needs_trust(
    home: Path, fitted: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Check that a model registered without a key (no seal) is accepted only with --trust."""
    tag = _exported_and_imported(register_dummy(fitted), tmp_path)
    assert main(["models", "accept", tag]) == 2
    assert "--trust" in capsys.readouterr().err
    assert main(["models", "accept", tag, "--trust"]) == 0
    assert store.read_card(tag)["origin"].startswith("accepted: trusted by")
    assert store.verified(tag) == tag


def test_a_replayed_older_alias_is_refused_by_a_follower(home: Path, fitted: Any) -> None:
    """Check that putting back an older alias object (its history shorter than one read
    before) is refused by followers, and that a later promotion is followed again."""
    first, second = _gated(fitted, "f1"), _gated(fitted, "f2")
    folder = home / "mle_challenge" / "aliases" / "price_classifier"
    production.promote(first)
    old = {f: (folder / f).read_bytes() for f in ("production.json", "history.jsonl")}
    production.promote(second)
    assert production.followable_tag() == second
    for file, content in old.items():
        (folder / file).write_bytes(content)
    with pytest.raises(shared.UntrustedAlias, match="older alias object was put back"):
        production.followable_tag()
    production.promote(second, reason="again")
    assert production.followable_tag() == second
