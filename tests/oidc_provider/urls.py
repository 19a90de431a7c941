from django.contrib.auth.views import LoginView
from django.urls import include, path
from oauth2_provider.urls import base_urlpatterns, oidc_urlpatterns

urlpatterns = [
    # DOT's authorize view sends a signed-out browser here (LOGIN_URL), then back via `next`.
    path("login/", LoginView.as_view(template_name="login.html"), name="login"),
    # Only what an OIDC client uses: authorize, token, discovery, JWKS, userinfo (and DOT's
    # revoke, introspect and logout). No application-management pages.
    path("o/", include((base_urlpatterns + oidc_urlpatterns, "oauth2_provider"))),
]
