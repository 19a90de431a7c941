"""Make every failure of an API area also an instance of that area's error (`APIKeyError`,
`BillingError`), as the original SDK promised, without losing its kind."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

from accounts.venice.errors import VeniceError, in_area


def raises_in(area: type[VeniceError]) -> Callable:
    def decorate(method: Callable) -> Callable:
        if inspect.isgeneratorfunction(method):

            @functools.wraps(method)
            def generator(*args, **kwargs):
                try:
                    yield from method(*args, **kwargs)
                except VeniceError as error:
                    if isinstance(error, area):
                        raise
                    raise in_area(error, area) from error.__cause__

            return generator

        @functools.wraps(method)
        def wrapper(*args, **kwargs):
            try:
                return method(*args, **kwargs)
            except VeniceError as error:
                if isinstance(error, area):
                    raise
                raise in_area(error, area) from error.__cause__

        return wrapper

    return decorate
