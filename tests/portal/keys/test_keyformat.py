"""The key format (``gk_<env>_<lookup id>_<secret><checksum>``) and keyed hashing."""

from __future__ import annotations

import hmac
import re
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.keys import hashing, keyformat
from portal.keys.keyformat import (
    BASE62,
    KEY_LENGTH,
    LOOKUP_ALPHABET,
    ParsedKey,
    build_key,
    is_lookup_id,
    new_lookup_id,
    parse_key,
)

KEY_SHAPE = re.compile(r"gk_(live|test)_[0-9a-hjkmnp-tv-z]{12}_[0-9A-Za-z]{38}")

lookup_ids = st.text(alphabet=LOOKUP_ALPHABET, min_size=12, max_size=12)
environments = st.sampled_from(["live", "test"])


# --- format -------------------------------------------------------------------


@pytest.mark.parametrize("environment", ["live", "test"])
def test_a_new_key_has_the_documented_shape(environment):
    lookup_id = new_lookup_id()

    key = build_key(environment, lookup_id)

    assert KEY_SHAPE.fullmatch(key)
    assert len(key) == KEY_LENGTH == 59
    assert key.startswith(f"gk_{environment}_{lookup_id}_")
    assert parse_key(key, environment=environment) == ParsedKey(
        environment, lookup_id, key
    )


def test_lookup_ids_are_twelve_unambiguous_lower_case_characters():
    ids = {new_lookup_id() for _ in range(200)}

    assert len(ids) == 200
    for lookup_id in ids:
        assert is_lookup_id(lookup_id)
        assert not set(lookup_id) & set("ilou")  # easily misread: never used


@pytest.mark.parametrize(
    "value", ["", "abc", "ABCDEFGHJKMN", "abcdefghjkm", "abcdefghjkmnp", "abcdefghijkl"]
)
def test_is_lookup_id_refuses_anything_else(value):
    assert not is_lookup_id(value)


def test_two_keys_for_one_lookup_id_have_different_secrets():
    lookup_id = new_lookup_id()

    assert build_key("test", lookup_id) != build_key("test", lookup_id)


@given(environment=environments, lookup_id=lookup_ids)
def test_every_generated_key_parses_in_its_own_environment_only(environment, lookup_id):
    key = build_key(environment, lookup_id)
    other = "live" if environment == "test" else "test"

    assert parse_key(key, environment=environment).lookup_id == lookup_id
    assert parse_key(key, environment=other) is None


@given(
    environment=environments,
    lookup_id=lookup_ids,
    position=st.integers(min_value=0, max_value=KEY_LENGTH - 1),
    replacement=st.one_of(st.sampled_from(BASE62 + "_"), st.characters()),
)
def test_the_checksum_catches_any_single_character_change(
    environment, lookup_id, position, replacement
):
    key = build_key(environment, lookup_id)
    changed = key[:position] + replacement + key[position + 1 :]

    if changed != key:
        assert parse_key(changed, environment=environment) is None


@given(environment=environments, lookup_id=lookup_ids, data=st.data())
def test_a_truncated_or_extended_key_never_parses(environment, lookup_id, data):
    key = build_key(environment, lookup_id)
    cut = data.draw(st.integers(min_value=0, max_value=KEY_LENGTH - 1))
    extra = data.draw(st.text(alphabet=BASE62, min_size=1, max_size=8))

    assert parse_key(key[:cut], environment=environment) is None
    assert parse_key(key + extra, environment=environment) is None


@given(raw=st.text(max_size=KEY_LENGTH + 5))
def test_arbitrary_text_never_parses_and_never_raises(raw):
    assert parse_key(raw, environment="test") is None


def test_the_checksum_covers_the_environment_prefix():
    key = build_key("test", new_lookup_id())

    assert parse_key(key.replace("gk_test_", "gk_live_", 1), environment="live") is None


def test_the_checksum_is_six_base62_characters_of_the_crc():
    body = "gk_test_abcdefghjkmn_" + "A" * 32

    checksum = keyformat._checksum(body)

    assert len(checksum) == 6
    assert set(checksum) <= set(BASE62)
    assert keyformat._checksum("gk_test_abcdefghjkmn_" + "A" * 31 + "B") != checksum


# --- hashing ------------------------------------------------------------------


@pytest.fixture
def full_key():
    return build_key("test", new_lookup_id())


def test_the_stored_hash_is_a_sha256_hmac_not_the_key(full_key):
    stored = hashing.key_hash(full_key)

    assert re.fullmatch(r"[0-9a-f]{64}", stored)
    assert full_key not in stored
    assert full_key[21:53] not in stored  # the secret part
    assert hashing.key_hash(full_key) == stored
    assert hashing.key_hash(build_key("test", new_lookup_id())) != stored


def test_the_hash_depends_on_the_server_side_secret(full_key, settings):
    settings.API_KEY_HASH_SECRET = "one-server-side-secret-of-32-chars!!"
    first = hashing.key_hash(full_key)
    settings.API_KEY_HASH_SECRET = "another-server-side-secret-32-chars!"

    assert hashing.key_hash(full_key) != first


def test_key_matches_compares_in_constant_time(full_key):
    stored = hashing.key_hash(full_key)
    other = build_key("test", full_key[8:20])

    with mock.patch.object(
        hashing.hmac, "compare_digest", wraps=hmac.compare_digest
    ) as compare:
        assert hashing.key_matches(full_key, stored) is True
        assert hashing.key_matches(other, stored) is False
        assert hashing.key_matches(full_key, "0" * 64) is False

    assert compare.call_count == 3
