"""A restarted PostgreSQL is picked up by the running portal, without restarting it.

The portal runs in a child process (as a gunicorn worker would), keeping its connection for a
minute (`conn_max_age`), against a private PostgreSQL cluster that this test stops and starts.
With `CONN_HEALTH_CHECKS`, the first request after the restart finds its old connection dead,
opens a new one and answers; while the database is down, /healthz answers 503.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The WSGI application itself, as gunicorn calls it: Django's test client would switch off the
# connection handling (close_old_connections) that this test is about.
PORTAL = """
import json, sys
from wsgiref.util import setup_testing_defaults
from portal.wsgi import application
for line in sys.stdin:
    environ = {"PATH_INFO": "/healthz", "HTTP_HOST": "127.0.0.1"}
    setup_testing_defaults(environ)
    answer = {}
    def start_response(status, headers):
        answer["status"] = int(status.split()[0])
    body = b"".join(application(environ, start_response))
    answer["body"] = json.loads(body)
    print(json.dumps(answer), flush=True)
"""


def test_the_portal_answers_again_at_once_after_postgresql_restarts(postgres_cluster):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": postgres_cluster.url(),
    }
    env.pop("REDIS_URL", None)
    portal = subprocess.Popen(
        [sys.executable, "-c", PORTAL],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )

    def healthz() -> dict:
        portal.stdin.write("get\n")
        portal.stdin.flush()
        return json.loads(portal.stdout.readline())

    try:
        assert healthz()["status"] == 200
        postgres_cluster.stop()  # a restart between two requests: the kept connection is dead
        postgres_cluster.start()
        assert healthz()["status"] == 200
        postgres_cluster.stop()
        down = healthz()
        assert (down["status"], down["body"]["database"]) == (503, "unreachable")
        postgres_cluster.start()
        assert healthz() == {
            "status": 200,
            "body": {"status": "ok", "database": "ok", "cache": "ok", "mode": "sandbox"},
        }
    finally:
        portal.stdin.close()
        portal.wait(timeout=30)
