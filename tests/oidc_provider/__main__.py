"""`python -m tests.oidc_provider`: the test OpenID Connect provider, served on 127.0.0.1.

It binds a free port, creates a new SQLite database in a temporary directory, creates the
confidential client and the users the environment describes, prints one line
`oidc provider ready: <issuer>` and serves until SIGTERM (or, with
OIDC_PROVIDER_EXIT_WITH_STDIN=1, until its standard input closes: a parent that dies without
stopping it leaves no server behind). tests/fixtures/oidc.py starts it and makes every secret:

  OIDC_PROVIDER_CLIENT_ID, OIDC_PROVIDER_CLIENT_SECRET   the confidential client
  OIDC_PROVIDER_REDIRECT_URIS    its redirect URIs, space-separated (exact, but any port
                                 on 127.0.0.1 and localhost)
  OIDC_PROVIDER_USERS            JSON: [{username, password, email, email_verified,
                                 given_name, family_name, groups: [...]}, ...]
  OIDC_PROVIDER_PKCE_REQUIRED    "1" (the default) or "0"

Secrets are read from the environment and never printed.
"""

import json
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path

READY = "oidc provider ready: "
CONFIGURATION = (
    "OIDC_PROVIDER_CLIENT_ID",
    "OIDC_PROVIDER_CLIENT_SECRET",
    "OIDC_PROVIDER_REDIRECT_URIS",
    "OIDC_PROVIDER_USERS",
)


def main() -> None:
    missing = [name for name in CONFIGURATION if name not in os.environ]
    if missing:
        sys.exit(
            f"tests.oidc_provider: {', '.join(missing)} unset (tests/fixtures/oidc.py sets them)"
        )
    # Taken out of the environment: nothing later in this process needs to see them there.
    config = {name: os.environ.pop(name) for name in CONFIGURATION}
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.oidc_provider.settings"

    # SIGTERM as an exception, so the `finally` and the temporary directory's cleanup run.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if os.environ.get("OIDC_PROVIDER_EXIT_WITH_STDIN") == "1":
        threading.Thread(target=_stop_when_stdin_closes, daemon=True).start()

    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    with tempfile.TemporaryDirectory(prefix="oidc-provider-") as workdir:
        # Bound before Django starts: the settings need the issuer, which holds the port.
        server = ThreadedWSGIServer(("127.0.0.1", 0), WSGIRequestHandler)
        try:
            issuer = f"http://127.0.0.1:{server.server_address[1]}/o"
            os.environ["OIDC_PROVIDER_ISSUER"] = issuer
            os.environ["OIDC_PROVIDER_DATABASE"] = str(Path(workdir) / "provider.sqlite3")

            import django

            django.setup()
            _create_database_and_records(config)

            from django.core.wsgi import get_wsgi_application

            server.set_app(get_wsgi_application())
            print(READY + issuer, flush=True)
            server.serve_forever()
        finally:
            server.server_close()


def _create_database_and_records(config: dict[str, str]) -> None:
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from oauth2_provider.models import Application

    from tests.oidc_provider.validators import UNVERIFIED_EMAIL_USERNAMES

    call_command("migrate", run_syncdb=True, verbosity=0, interactive=False, skip_checks=True)
    Application.objects.create(
        name="Venice portal",
        client_id=config["OIDC_PROVIDER_CLIENT_ID"],
        client_secret=config["OIDC_PROVIDER_CLIENT_SECRET"],  # stored hashed, as DOT does
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=config["OIDC_PROVIDER_REDIRECT_URIS"],
        algorithm=Application.RS256_ALGORITHM,
        skip_authorization=True,  # a portal's own SSO: no consent page between sign-in and back
    )
    for spec in json.loads(config["OIDC_PROVIDER_USERS"]):
        user = User.objects.create_user(
            spec["username"],
            email=spec["email"],
            password=spec["password"],
            first_name=spec["given_name"],
            last_name=spec["family_name"],
        )
        user.groups.set(Group.objects.get_or_create(name=name)[0] for name in spec["groups"])
        if not spec.get("email_verified", True):
            UNVERIFIED_EMAIL_USERNAMES.add(user.username)


def _stop_when_stdin_closes() -> None:
    sys.stdin.read()  # returns at end of file: the parent closed the pipe or died
    os.kill(os.getpid(), signal.SIGTERM)


if __name__ == "__main__":
    main()
