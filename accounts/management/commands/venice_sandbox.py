from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.sandbox import get_sandbox, reset_sandbox
from accounts.sandbox.server import make_server


class Command(BaseCommand):
    help = (
        "Serve the Venice sandbox over real HTTP on 127.0.0.1 (point VENICE_API_BASE at the "
        "printed URL), or with --reset alone, restore the seeded demo account in the state "
        "file (settings.VENICE_SANDBOX_STATE_FILE) and exit. Prints the seeded account's "
        "ADMIN and INFERENCE key secrets: they are a simulator's demo keys (an --admin-key "
        "secret is not echoed)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, help="Port to serve on (0 picks a free one).")
        parser.add_argument("--host", default="127.0.0.1", help="Address to bind (127.0.0.1).")
        parser.add_argument(
            "--admin-key",
            help="Use this secret (your VENICE_API_KEY) for the seeded ADMIN key instead of its "
            "own. Only its hash is kept: the key keeps working after a restart, and giving it "
            "again lets an in-process sandbox hand it out.",
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Replace the state file's account with a freshly seeded one.",
        )
        parser.add_argument(
            "--seed",
            type=int,
            help=f"Seed number when (re)seeding (default {settings.VENICE_SANDBOX_SEED}).",
        )

    def handle(self, *args, port=None, host="127.0.0.1", admin_key=None, reset=False, seed=None,
               **options):  # fmt: skip
        state_file = settings.VENICE_SANDBOX_STATE_FILE
        if port is None and not reset:
            raise CommandError("Give --port N to serve, or --reset to restore the seeded account.")
        if reset:
            sandbox = reset_sandbox(seed=seed, admin_key=admin_key)
            where = state_file or "memory (no VENICE_SANDBOX_STATE_FILE)"
            self.stdout.write(f"Sandbox account reset from seed {sandbox.seed} in {where}.")
        else:
            sandbox = get_sandbox()
            if seed is not None and seed != sandbox.seed:
                self.stdout.write(
                    f"The state file holds seed {sandbox.seed}; pass --reset to reseed with {seed}."
                )
            if admin_key:
                sandbox.replace_admin_secret(admin_key)
        if port is None:
            return
        server = make_server(sandbox, host, port)
        bound_host, bound_port = server.server_address[:2]
        if sandbox.admin_key_given:
            # The operator's own key (their VENICE_API_KEY) is not echoed; the state file keeps
            # only its hash, so the portal configured with it works across restarts.
            self.stdout.write(
                f"admin key (given with --admin-key, not echoed): ends in {sandbox.admin_key_last6}"
            )
        else:
            self.stdout.write(f"admin key: {sandbox.admin_key}")
        self.stdout.write(f"inference key: {sandbox.inference_key}")
        self.stdout.write(
            f"Venice sandbox serving http://{bound_host}:{bound_port}/api/v1 "
            f"(state: {state_file or 'memory'}); Ctrl-C stops it."
        )
        self.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
        self.stdout.write("Venice sandbox stopped.")
