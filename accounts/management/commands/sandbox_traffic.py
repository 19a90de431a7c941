from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.sandbox.traffic import play, sandbox_session


class Command(BaseCommand):
    help = (
        "Play an app that calls the sandbox's simulated POST /chat/completions with the key "
        "whose secret is in KEY_FILE, re-read before every request (so a rotation that writes "
        "the new secret there moves the traffic). Sandbox only: no real model runs."
    )

    def add_arguments(self, parser):
        parser.add_argument("key_file", type=Path, help="A file holding the key's secret.")
        parser.add_argument("--rps", type=float, default=2.0, help="Requests per second (2).")
        parser.add_argument("--count", type=int, help="Stop after this many requests.")
        parser.add_argument(
            "--base-url",
            help="A sandbox served by `venice_sandbox --port N` (its /api/v1 URL); default: "
            "this project's sandbox in process (its state file, shared with `make run`).",
        )

    def handle(self, *args, key_file, rps, count, base_url, **options):
        if not key_file.is_file():
            raise CommandError(f"{key_file} is not a file.")
        if rps <= 0:
            raise CommandError("--rps must be above 0.")
        session, url = sandbox_session(base_url)
        try:
            answered = play(
                key_file=key_file,
                rps=rps,
                count=count,
                session=session,
                base_url=url,
                say=self.stdout.write,
            )
        except KeyboardInterrupt:
            return
        self.stdout.write(f"{answered} of {count} requests answered.")
