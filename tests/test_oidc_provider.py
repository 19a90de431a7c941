"""The test OpenID Connect provider (tests/oidc_provider/, fixtures in tests/fixtures/oidc.py)
behaves as the real one the portal's django-allauth `openid_connect` client will talk to:
discovery, JWKS, the authorization-code flow with PKCE over HTTP, an RS256 id_token with the
user's groups, and userinfo. Only `requests` and PyJWT here, no portal code.
"""

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import requests

from tests.fixtures.oidc import PROVIDER_ID, OIDCUser, SignInRefused

TIMEOUT = 10
SCOPE = "openid profile email"
# A live server's callback: registered without a port, accepted on any (RFC 8252 §7.3).
LIVE_CALLBACK = f"http://localhost:51234/accounts/oidc/{PROVIDER_ID}/login/callback/"


@pytest.fixture(scope="module")
def discovery(oidc_provider):
    response = requests.get(oidc_provider.discovery_url, timeout=TIMEOUT)
    response.raise_for_status()
    return response.json()


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorization_request(discovery, provider, redirect_uri, *, challenge=None) -> dict:
    params = {
        "response_type": "code",
        "client_id": provider.client_id,
        "redirect_uri": redirect_uri,
        "scope": SCOPE,
        "state": secrets.token_urlsafe(),
        "nonce": secrets.token_urlsafe(),
    }
    if challenge:
        params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    return params


def authorize_url(discovery, params) -> str:
    return discovery["authorization_endpoint"] + "?" + urlencode(params)


def query_of(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def verified_claims(id_token, discovery, provider) -> dict:
    """The id_token's claims, its RS256 signature checked against the published JWKS."""
    jwks = requests.get(discovery["jwks_uri"], timeout=TIMEOUT).json()
    key = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(id_token)["kid"]]
    return jwt.decode(
        id_token,
        key.key,
        algorithms=["RS256"],
        audience=provider.client_id,
        issuer=provider.issuer,
    )


def test_discovery_names_the_issuer_and_its_endpoints(oidc_provider, discovery):
    issuer = oidc_provider.issuer
    assert issuer.startswith("http://127.0.0.1:") and issuer.endswith("/o")
    assert discovery["issuer"] == issuer
    assert discovery["authorization_endpoint"] == f"{issuer}/authorize/"
    assert discovery["token_endpoint"] == f"{issuer}/token/"
    assert discovery["userinfo_endpoint"] == f"{issuer}/userinfo/"
    assert discovery["jwks_uri"] == f"{issuer}/.well-known/jwks.json"
    assert "RS256" in discovery["id_token_signing_alg_values_supported"]
    assert "code" in discovery["response_types_supported"]
    assert "S256" in discovery["code_challenge_methods_supported"]
    assert {"client_secret_post", "client_secret_basic"} <= set(
        discovery["token_endpoint_auth_methods_supported"]
    )
    assert {"openid", "profile", "email"} <= set(discovery["scopes_supported"])
    assert {"sub", "groups", "email", "email_verified", "name", "preferred_username"} <= set(
        discovery["claims_supported"]
    )


def test_the_jwks_publishes_an_rsa_signing_key(discovery):
    keys = requests.get(discovery["jwks_uri"], timeout=TIMEOUT).json()["keys"]
    assert len(keys) == 1
    assert keys[0]["kty"] == "RSA" and keys[0]["alg"] == "RS256" and keys[0]["use"] == "sig"
    assert keys[0]["kid"] and keys[0]["n"] and keys[0]["e"]
    assert "d" not in keys[0]  # the public half only


def test_the_login_page_has_labelled_fields_and_a_sign_in_button(oidc_provider, discovery):
    params = authorization_request(discovery, oidc_provider, LIVE_CALLBACK)
    page = requests.get(authorize_url(discovery, params), timeout=TIMEOUT)

    assert page.status_code == 200 and urlsplit(page.url).path == "/login/"
    assert '<label for="id_username">Username</label>' in page.text
    assert '<label for="id_password">Password</label>' in page.text
    assert '<button type="submit">Sign in</button>' in page.text


def test_the_code_flow_gives_a_signed_id_token_and_userinfo_with_the_groups(
    oidc_provider, discovery
):
    verifier, challenge = pkce_pair()
    params = authorization_request(discovery, oidc_provider, LIVE_CALLBACK, challenge=challenge)

    back = oidc_provider.sign_in(authorize_url(discovery, params), "olga")

    assert back.startswith(LIVE_CALLBACK + "?")
    answer = query_of(back)
    assert answer["state"] == params["state"] and answer["code"]
    # client_secret_post, as django-allauth chooses when the provider offers it.
    tokens = requests.post(
        discovery["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": LIVE_CALLBACK,
            "code_verifier": verifier,
            "client_id": oidc_provider.client_id,
            "client_secret": oidc_provider.client_secret,
        },
        timeout=TIMEOUT,
    )
    assert tokens.status_code == 200, tokens.text
    tokens = tokens.json()
    assert tokens["token_type"] == "Bearer" and set(tokens["scope"].split()) == set(SCOPE.split())

    claims = verified_claims(tokens["id_token"], discovery, oidc_provider)
    olga = oidc_provider.users["olga"]
    assert claims["iss"] == oidc_provider.issuer
    assert claims["aud"] == oidc_provider.client_id
    assert claims["nonce"] == params["nonce"]
    assert claims["groups"] == ["venice-finance"] == list(olga.groups)
    profile = {
        "email": "olga@venice.example",
        "email_verified": True,
        "name": "Olga Marchetti",
        "given_name": "Olga",
        "family_name": "Marchetti",
        "preferred_username": "olga",
    }
    assert profile.items() <= claims.items()

    userinfo = requests.get(
        discovery["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=TIMEOUT,
    )
    assert userinfo.status_code == 200, userinfo.text
    assert userinfo.json() == {"sub": claims["sub"], "groups": ["venice-finance"], **profile}


def test_several_groups_are_sorted_and_no_group_is_an_empty_list(oidc_provider, discovery):
    for username, groups in [("piero", ["venice-administrators", "venice-finance"]), ("nina", [])]:
        verifier, challenge = pkce_pair()
        params = authorization_request(discovery, oidc_provider, LIVE_CALLBACK, challenge=challenge)
        code = query_of(oidc_provider.sign_in(authorize_url(discovery, params), username))["code"]
        tokens = requests.post(
            discovery["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": LIVE_CALLBACK,
                "code_verifier": verifier,
            },
            auth=(oidc_provider.client_id, oidc_provider.client_secret),  # client_secret_basic
            timeout=TIMEOUT,
        ).json()

        assert verified_claims(tokens["id_token"], discovery, oidc_provider)["groups"] == groups


def test_a_wrong_password_gives_no_code(oidc_provider, discovery):
    _, challenge = pkce_pair()
    params = authorization_request(discovery, oidc_provider, LIVE_CALLBACK, challenge=challenge)

    with pytest.raises(SignInRefused, match="correct username and password"):
        oidc_provider.sign_in(authorize_url(discovery, params), "olga", password="not-hers")


def test_without_pkce_the_client_is_sent_back_with_an_error_not_a_code(oidc_provider, discovery):
    params = authorization_request(discovery, oidc_provider, LIVE_CALLBACK)  # no code_challenge

    back = query_of(oidc_provider.sign_in(authorize_url(discovery, params), "olga"))

    assert back["error"] == "invalid_request" and "code" not in back


def test_an_unregistered_redirect_uri_is_refused(oidc_provider, discovery):
    _, challenge = pkce_pair()
    elsewhere = "http://localhost:51234/somewhere/else/"
    params = authorization_request(discovery, oidc_provider, elsewhere, challenge=challenge)

    with pytest.raises(AssertionError, match="did not send the browser back"):
        oidc_provider.sign_in(authorize_url(discovery, params), "olga")


def test_the_fixture_keeps_secrets_out_of_its_repr(oidc_provider):
    shown = repr(oidc_provider)
    assert oidc_provider.client_secret not in shown
    assert all(user.password not in shown for user in oidc_provider.users.values())


def test_a_provider_of_its_own_redirect_uris_users_and_client(start_oidc_provider):
    callback = "http://testserver/accounts/oidc/other/login/callback/"
    ugo = OIDCUser(
        "ugo", "ugo@venice.example", "Ugo", "Bon", groups=("venice-auditors",), email_verified=False
    )
    provider = start_oidc_provider(
        redirect_uris=[callback], users=[ugo], client_id="other-portal", pkce_required=False
    )
    try:
        discovery = requests.get(provider.discovery_url, timeout=TIMEOUT).json()
        params = authorization_request(discovery, provider, callback)  # PKCE not required here
        code = query_of(provider.sign_in(authorize_url(discovery, params), "ugo"))["code"]
        tokens = requests.post(
            discovery["token_endpoint"],
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": callback},
            auth=(provider.client_id, provider.client_secret),
            timeout=TIMEOUT,
        ).json()

        claims = verified_claims(tokens["id_token"], discovery, provider)
        assert claims["aud"] == "other-portal" and claims["groups"] == ["venice-auditors"]
        assert claims["email_verified"] is False
        assert provider.users["ugo"].password  # generated, since none was given
    finally:
        provider.stop()

    with pytest.raises(requests.ConnectionError):
        requests.get(provider.discovery_url, timeout=TIMEOUT)
