"""Hostile input at /api/v1: random headers, key-shaped strings, query parameters, unicode, NUL bytes and
oversized values. Whatever comes in, the answer is a 200 or a 4xx in the documented error shape, never a 500
and never an HTML page."""

import string
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from floqast.api.params import PARAMETERS
from floqast.keys import tokens
from floqast.keys.models import Service
from helpers import CHECKLISTS, ME, RECONCILIATIONS

ROUTES = [ME, RECONCILIATIONS, CHECKLISTS]


def on_the_wire(text: str) -> str:
    """A header value as a WSGI server hands it over: the UTF-8 bytes read as latin-1.

    HTTP cannot carry a bare CR or LF inside a header value, so those are left out.
    """
    return text.replace("\r", "").replace("\n", "").encode("utf-8").decode("latin-1")


def assert_documented(response) -> None:
    """A 200 JSON or CSV body, or a 4xx JSON error in the documented shape."""
    body = response.get_data(as_text=True)
    assert response.status_code < 500, body
    if response.status_code == 200:
        assert response.mimetype in ("application/json", "text/csv")
        return
    assert 400 <= response.status_code < 500
    assert response.mimetype == "application/json", body
    payload = response.get_json()
    assert list(payload) == ["errors"]
    [error] = payload["errors"]
    assert set(error) == {"status", "title", "detail"}
    assert error["status"] == str(response.status_code)
    assert isinstance(error["title"], str) and error["title"]
    assert isinstance(error["detail"], str) and error["detail"]


@pytest.fixture
def plaintext(team, admin, make_key):
    """A working key for both services."""
    return make_key(admin, services=list(Service))[1]


# ------------------------------------------------------------------ strategies

anything = st.text(max_size=64)
# Every code point class: ASCII, latin-1, astral, controls (NUL included), surrogates left out (UTF-8 can't carry them).
wild_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=80)
long_text = st.text(st.sampled_from("a\x00é€😀%[]=&,"), min_size=1000, max_size=20000)
header_value = st.one_of(anything, wild_text, long_text, st.just(""), st.just("\x00" * 10))
alphabet_char = st.sampled_from(tokens.ALPHABET)


@st.composite
def key_shaped(draw) -> str:
    """Strings that look like keys: right prefix and length, with random or right checksums."""
    kind = draw(st.sampled_from(["random-body", "right-checksum", "wrong-prefix", "off-by-one", "wild-chars"]))
    body = draw(st.text(alphabet_char, min_size=tokens.RANDOM_LENGTH, max_size=tokens.RANDOM_LENGTH))
    if kind == "random-body":
        tail = draw(st.text(alphabet_char, min_size=tokens.CHECKSUM_LENGTH, max_size=tokens.CHECKSUM_LENGTH))
        return tokens.PREFIX + body + tail
    if kind == "right-checksum":
        return tokens.PREFIX + body + tokens.checksum(body)  # well formed, but no such key
    if kind == "wrong-prefix":
        prefix = draw(st.text(string.ascii_letters + "_", min_size=3, max_size=3))
        return prefix + body + tokens.checksum(body)
    if kind == "off-by-one":
        extra = draw(st.text(alphabet_char, max_size=2))
        return tokens.PREFIX + body[: draw(st.integers(30, 32))] + tokens.checksum(body) + extra
    wild = draw(st.text(st.characters(exclude_categories=["Cs"]), min_size=tokens.RANDOM_LENGTH,
                        max_size=tokens.RANDOM_LENGTH))
    return tokens.PREFIX + wild + draw(st.text(min_size=6, max_size=6))


parameter_name = st.one_of(
    st.sampled_from(PARAMETERS),
    st.builds(lambda kind, inner: f"{kind}[{inner}]", st.sampled_from(["filter", "page", "sort", "fields"]), anything),
    anything.filter(bool),
    st.sampled_from(["filter[month", "filter]", "page[]", "filter[]", "[", "]", "page[size][x]", "filter[MONTH]"]),
)
parameter_value = st.one_of(
    anything,
    wild_text,
    st.sampled_from(["", " ", "0", "-1", "13", "January", "march", "²", "١٢", "٣", "99999999999999999999",
                     "9" * 5000, "1,2,3", ",", "1,,2", "1,²", "2025-02-30", "2025-13-01", "0000-00-00",
                     "२०२५-01-01", "1e3", "0x10", "null", "[]", "{}", "true", "fq_", "\x00", "%00"]),
    st.integers(-10**40, 10**40).map(str),
    st.lists(st.integers(-5, 2**33), max_size=50).map(lambda ids: ",".join(map(str, ids))),
    long_text,
)
query = st.lists(st.tuples(parameter_name, parameter_value), max_size=6)


def query_string(pairs) -> str:
    return "&".join(f"{quote(name, safe='[]')}={quote(value, safe='[],')}" for name, value in pairs)


# ------------------------------------------------------------------ properties


@given(path=st.sampled_from(ROUTES), x_api_key=st.none() | header_value, authorization=st.none() | header_value)
def test_random_header_values_get_a_documented_answer(client, team, path, x_api_key, authorization):
    headers = {}
    if x_api_key is not None:
        headers["x-api-key"] = on_the_wire(x_api_key)
    if authorization is not None:
        headers["Authorization"] = on_the_wire(authorization)
    response = client.get(path, headers=headers)
    assert_documented(response)
    assert response.status_code in (400, 401, 429, 431)


@given(path=st.sampled_from(ROUTES), presented=key_shaped(), bearer=st.booleans())
def test_key_shaped_strings_are_refused_with_401(client, team, path, presented, bearer):
    value = on_the_wire(presented)
    headers = {"Authorization": f"Bearer {value}"} if bearer else {"x-api-key": value}
    response = client.get(path, headers=headers)
    assert_documented(response)
    assert response.status_code in (401, 429, 431)


@given(path=st.sampled_from([RECONCILIATIONS, CHECKLISTS]), pairs=query,
       accept=st.sampled_from(["application/json", "text/csv", "*/*", "text/csv;q=0.1, application/json"]))
def test_random_query_parameters_on_the_analytics_routes(client, plaintext, path, pairs, accept):
    response = client.get(f"{path}?{query_string(pairs)}", headers={"x-api-key": plaintext, "Accept": accept})
    assert_documented(response)


@given(path=st.sampled_from(ROUTES), raw=st.binary(max_size=200))
def test_raw_query_string_bytes(client, plaintext, path, raw):
    """Bytes a client may put in a URL as they are: invalid UTF-8, broken percent escapes, NUL."""
    environ = {"QUERY_STRING": raw.decode("latin-1")}  # as a WSGI server passes the raw bytes on
    response = client.get(path, environ_overrides=environ, headers={"x-api-key": plaintext})
    assert_documented(response)


@given(accept=header_value, extra=st.dictionaries(
    st.sampled_from(["Accept-Encoding", "Content-Type", "X-Forwarded-For", "HX-Request", "Cookie", "Range",
                     "If-None-Match", "Origin", "User-Agent"]), header_value, max_size=4))
def test_random_other_headers_with_a_valid_key(client, plaintext, accept, extra):
    headers = {"x-api-key": plaintext, "Accept": on_the_wire(accept), **{k: on_the_wire(v) for k, v in extra.items()}}
    for path in ROUTES:
        assert_documented(client.get(path, headers=headers))


@pytest.mark.parametrize("value", ["²", "¹²", "٣", "9" * 5000, "1" * 4301, "1" * 11])
@pytest.mark.parametrize("name", ["page[size]", "filter[month]", "filter[entityIds]"])
def test_digits_that_are_not_ascii_numbers_are_a_400(client, plaintext, name, value):
    """str.isdigit() accepts '²' and int() refuses it; and int() refuses more than 4300 digits."""
    params = {name: value, **({"filter[year]": "2025"} if name == "filter[month]" else {})}
    response = client.get(RECONCILIATIONS, query_string=params, headers={"x-api-key": plaintext})
    assert_documented(response)
    if response.status_code != 414:  # very long URLs may be refused before any parameter is read
        assert response.status_code == 400
        assert response.get_json()["errors"][0]["detail"].startswith(f"{name}:")


@pytest.mark.parametrize("path", ROUTES)
def test_a_raw_byte_that_is_not_utf8_in_the_query_string_is_a_400_not_a_500(client, plaintext, path):
    environ = {"QUERY_STRING": b"filter[month]=\xff\xfe&x=\x80".decode("latin-1")}
    response = client.get(path, environ_overrides=environ, headers={"x-api-key": plaintext})
    assert_documented(response)
    assert response.status_code == (200 if path == ME else 400)  # /me takes no parameters and reads none


def test_outside_text_too_long_for_its_column_is_clipped_and_never_fails_the_request(make_app, make_team, make_user,
                                                                                     make_key):
    """A client's address behind a trusted proxy (X-Forwarded-For, as it came) and its user agent reach bounded
    columns: the key's Last used and the audit trail. On PostgreSQL a long one failed the pull, the failed login
    and the refusal with a 500; each is clipped to its column, in one place for every such column."""
    from floqast.audit.events import AuditEvent, AuditKind
    from floqast.extensions import db
    from helpers import PASSWORD, csrf_token, reload

    proxied = make_app(TRUSTED_PROXY_COUNT=1)
    headers = {"X-Forwarded-For": "x" * 300, "User-Agent": "agent\x00" + "y" * 1000}
    with proxied.app_context():
        key, plaintext = make_key(make_user(make_team("Proxied Co")))
        client = proxied.test_client()
        assert client.get(ME, headers={**headers, "x-api-key": plaintext}).status_code == 200
        assert client.get(ME, headers={**headers, "x-api-key": tokens.generate()}).status_code == 401
        login = client.post("/login", headers=headers, data={
            "email": "nobody@example.test", "password": PASSWORD, "csrf_token": csrf_token(client, "/login")})
        assert login.status_code == 422
        used = reload(key)
        assert used.last_used_ip == "x" * 45
        assert used.last_used_user_agent == "agent\ufffd" + "y" * 249
        events = db.session.scalars(db.select(AuditEvent)).all()
        assert {event.kind for event in events} == {AuditKind.API_REFUSED, AuditKind.LOGIN_FAILED}
        assert {event.ip for event in events} == {"x" * 45}
