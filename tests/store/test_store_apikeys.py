"""API keys: shown once, kept as a SHA-256, checked without telling why a key fails."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from optimizer.errors import InputError
from optimizer.store.apikeys import add_key, list_keys, revoke_key, verify_key
from optimizer.store.tables import ApiKey, AuditEntry


def test_a_key_is_stored_hashed_and_verified(store):
    with store.session() as s:
        client, key = add_key(s, "loan-system", actor="cli")
    assert key.startswith(f"crk_{client.key_id}_") and len(key) == 4 + 12 + 1 + 43
    with store.reading() as s:
        row = s.scalars(select(ApiKey)).one()
        assert row.sha256 == hashlib.sha256(key.encode()).hexdigest()
        assert key not in repr(row.__dict__)  # the key itself is nowhere in the row
        assert verify_key(s, key) == client
        assert client.actor == "api:loan-system"
        secret = key.rsplit("_", 1)[1]
        wrong = key[:-1] + ("A" if key[-1] != "A" else "B")
        for bad in (wrong, key + "x", key.upper(), "", "crk_", secret, "Bearer " + key):
            assert verify_key(s, bad) is None, bad
        audit = s.scalars(select(AuditEntry)).one()
        assert (audit.action, audit.details) == ("apikey.created", {
            "name": "loan-system", "key_id": client.key_id})
        assert key not in str(audit.details)


def test_names_are_checked_and_unique_and_a_revoked_key_fails(store):
    with store.session() as s:
        _, key = add_key(s, "crm", actor="cli")
    with store.session() as s, pytest.raises(InputError, match="a key of this name exists"):
        add_key(s, "crm", actor="cli")
    for bad in ("", "has space", "-dash", "x" * 101, "名字"):
        with store.session() as s, pytest.raises(InputError, match="is not a key name"):
            add_key(s, bad, actor="cli")
    with store.session() as s:
        revoke_key(s, "crm", actor="cli")
    with store.reading() as s:
        assert verify_key(s, key) is None
        (listed,) = list_keys(s)
        assert listed.name == "crm" and listed.revoked_at is not None
    with store.session() as s, pytest.raises(InputError, match="no key of this name in use"):
        revoke_key(s, "crm", actor="cli")
