# -*- coding: utf-8 -*-
# This file is private to the certops.backend_tls collection; it is not a public API.
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the public filters do with input of the wrong shape: one clear error that names the filter and what it takes.

Without it a filter given, say, a string where a backend_cert_info result goes fails with Python's own words
("'str' object has no attribute 'get'"), which name neither the filter's input nor what it should have been.
"""

from __future__ import annotations

import functools

from ansible.errors import AnsibleFilterError

# What reading a value of the wrong shape raises (a string or number where a dict or list goes, a key missing).
_SHAPE_ERRORS = (AttributeError, IndexError, KeyError, TypeError, ValueError)


def takes(expected):
    """Decorate a public filter: a shape error anywhere in it becomes an AnsibleFilterError
    "<filter>: expects <expected>; the input does not fit (<detail>)", and the filter's own refusals are prefixed
    with its name when they are not already."""
    def decorate(func):
        name = func.__name__

        @functools.wraps(func)
        def run(*args, **kwargs):
            try:
                return func(*args, **kwargs)
            except AnsibleFilterError as exc:
                message = str(exc.message)
                if message.startswith(name):
                    raise
                raise AnsibleFilterError("%s: %s" % (name, message)) from None
            except _SHAPE_ERRORS as exc:
                detail = "the key %s is missing" % exc if isinstance(exc, KeyError) else \
                    "%s: %s" % (type(exc).__name__, exc)
                raise AnsibleFilterError("%s: expects %s; the input does not fit (%s)" % (name, expected, detail)) \
                    from None
        return run
    return decorate
