"""The portal's WSGI application for the gunicorn benchmark: `portal.wsgi.application`,
plus an `X-Bench-DB-Queries` response header counting the database queries each request ran
(through Django's execute_wrapper, in the worker serving it). The counting costs a function
call per query; nothing else differs from what `make serve` runs."""

from django.db import connections

from portal.wsgi import application as portal

QUERIES_HEADER = "X-Bench-DB-Queries"


def application(environ, start_response):
    counted = [0]

    def counter(execute, sql, params, many, context):
        counted[0] += 1
        return execute(sql, params, many, context)

    def start(status, headers, exc_info=None):
        return start_response(status, [*headers, (QUERIES_HEADER, str(counted[0]))], exc_info)

    # Django calls start_response once the response is complete (session saved included);
    # a streamed body's later queries would not be counted, and /keys/ streams nothing.
    with connections["default"].execute_wrapper(counter):
        return portal(environ, start)
