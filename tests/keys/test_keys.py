"""The key format, checksum, digest and hint (floqast.keys.tokens): pure functions, no app needed."""

import hashlib
import hmac
import re
import string
import zlib

import pytest

from floqast.keys import tokens

BASE62 = string.digits + string.ascii_letters
KEY_PATTERN = re.compile(r"fq_[0-9A-Za-z]{32}[0-9A-Za-z]{6}")


def base62_decode(text: str) -> int:
    number = 0
    for char in text:
        number = number * 62 + BASE62.index(char)
    return number


@pytest.fixture
def key() -> str:
    return tokens.generate()


def test_generated_key_is_prefix_32_random_and_6_checksum_characters(key):
    assert KEY_PATTERN.fullmatch(key)
    assert len(key) == 3 + 32 + 6 == tokens.KEY_LENGTH


def test_checksum_is_crc32_of_the_random_part_in_base62(key):
    random_part, check = key[3:35], key[35:]
    assert base62_decode(check) == zlib.crc32(random_part.encode())


def test_checksum_is_padded_to_six_characters():
    # Find a random part whose CRC32 is small enough to need padding: CRC32 of b"" is 0.
    assert tokens.checksum("") == "000000"
    assert len(tokens.checksum("a" * 32)) == 6


def test_generated_keys_are_well_formed_and_unique():
    generated = [tokens.generate() for _ in range(2000)]
    assert all(tokens.is_well_formed(key) for key in generated)
    assert len(set(generated)) == len(generated)
    # The random part uses the whole alphabet, not a fixed subset.
    assert set("".join(key[3:35] for key in generated)) == set(BASE62)


def _replace(key: str, index: int, char: str) -> str:
    return key[:index] + char + key[index + 1:]


@pytest.mark.parametrize("index", [3, 10, 20, 34, 35, 40])
def test_a_one_character_typo_is_refused(key, index):
    original = key[index]
    typo = BASE62[(BASE62.index(original) + 1) % 62]
    mistyped = _replace(key, index, typo)
    assert mistyped != key
    assert not tokens.is_well_formed(mistyped)


def test_two_swapped_neighbouring_characters_are_refused():
    key = next(k for k in iter(tokens.generate, None) if k[10] != k[11])
    swapped = key[:10] + key[11] + key[10] + key[12:]
    assert not tokens.is_well_formed(swapped)


def test_a_wrong_checksum_is_refused(key):
    random_part = key[3:35]
    wrong = tokens.checksum(random_part[::-1]) if random_part != random_part[::-1] else "zzzzzz"
    assert wrong != key[35:]
    assert not tokens.is_well_formed("fq_" + random_part + wrong)


@pytest.mark.parametrize("prefix", ["FQ_", "fq-", "gh_", "xx_", "fqa"])
def test_a_wrong_prefix_is_refused(key, prefix):
    assert not tokens.is_well_formed(prefix + key[3:])


@pytest.mark.parametrize(
    "mangle",
    [
        lambda key: key[:-1],                 # one short
        lambda key: key + "0",                # one long
        lambda key: key[3:],                  # no prefix
        lambda key: key[:35],                 # no checksum
        lambda key: " " + key,                # leading space
        lambda key: key + "\n",               # trailing newline
        lambda key: "",
        lambda key: "fq_",
    ],
    ids=["short", "long", "no-prefix", "no-checksum", "leading-space", "trailing-newline", "empty", "prefix-only"],
)
def test_a_wrong_length_is_refused(key, mangle):
    assert not tokens.is_well_formed(mangle(key))


@pytest.mark.parametrize("char", ["-", "_", "+", "/", "=", " ", "é", "٣", "０"])
def test_characters_outside_base62_are_refused(char):
    # A random part containing the character, with a checksum that matches it, is still refused.
    random_part = char + "a" * 31
    candidate = "fq_" + random_part + tokens.checksum(random_part) if char.isascii() else "fq_" + random_part + "000000"
    assert len(candidate) == tokens.KEY_LENGTH
    assert not tokens.is_well_formed(candidate)


def test_a_made_up_key_in_the_right_shape_is_refused():
    assert not tokens.is_well_formed("fq_" + "a" * 32 + "aaaaaa")


def test_digest_is_hmac_sha256_of_the_key_under_the_pepper(key):
    pepper = b"pepper-one"
    expected = hmac.new(pepper, key.encode(), hashlib.sha256).hexdigest()
    assert tokens.digest(key, pepper) == expected
    assert re.fullmatch(r"[0-9a-f]{64}", tokens.digest(key, pepper))


def test_digest_is_not_a_plain_hash_of_the_key(key):
    assert tokens.digest(key, b"pepper") != hashlib.sha256(key.encode()).hexdigest()
    assert key not in tokens.digest(key, b"pepper")


def test_digest_differs_per_pepper_and_per_key(key):
    assert tokens.digest(key, b"pepper-one") != tokens.digest(key, b"pepper-two")
    assert tokens.digest(key, b"pepper-one") != tokens.digest(tokens.generate(), b"pepper-one")
    assert tokens.digest(key, b"pepper-one") == tokens.digest(key, b"pepper-one")


def test_hint_is_prefix_and_first_four_random_characters(key):
    assert tokens.hint(key) == "fq_" + key[3:7]
    assert len(tokens.hint(key)) == 7
    assert key[7:] not in tokens.hint(key)
