"""Which claims the provider puts in the id_token and the userinfo response."""

from oauth2_provider.oauth2_validators import OAuth2Validator

# Usernames whose address is given as `email_verified: false`: Django's user has no such
# field, and this process's users are made once, at start-up, by __main__.py.
UNVERIFIED_EMAIL_USERNAMES: set[str] = set()


class ClaimsValidator(OAuth2Validator):
    # Each claim is given only when its scope was granted (OIDC Core §5.4); `groups` is no
    # standard claim, so it rides on `profile`. A new dict: updating the inherited one in
    # place would change OAuth2Validator itself.
    oidc_claim_scope = {**OAuth2Validator.oidc_claim_scope, "groups": "profile"}

    def get_additional_claims(self):
        # The request-free form (claim -> callable): DOT then also lists these claims in the
        # discovery document's `claims_supported`.
        return {
            "name": lambda request: request.user.get_full_name(),
            "given_name": lambda request: request.user.first_name,
            "family_name": lambda request: request.user.last_name,
            "preferred_username": lambda request: request.user.username,
            "email": lambda request: request.user.email,
            "email_verified": lambda request: (
                request.user.username not in UNVERIFIED_EMAIL_USERNAMES
            ),
            "groups": lambda request: sorted(request.user.groups.values_list("name", flat=True)),
        }
