"""A real OpenID Connect provider for the single sign-on tests: a second, tiny Django project
(django-oauth-toolkit with OIDC on, RS256) that tests/fixtures/oidc.py starts in a child process
on 127.0.0.1. Nothing here is imported by the portal or by the test process itself."""
