# -*- coding: utf-8 -*-
# This file is private to the certops.backend_tls collection; it is not a public API.
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A module's arguments checked by an action plugin on the controller, as AnsibleModule checks them on the host: the
same messages, error code INVALID_ARGUMENT, and no private key text in any of them."""

from __future__ import annotations

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError

from ansible_collections.certops.backend_tls.plugins.module_utils._secrets import (
    list_element_problem,
    overflow_message,
    private_key_strings,
    redact,
)


def validate(action, args, argument_spec, *, secrets, required_one_of=None, mutually_exclusive=None):
    """(validated parameters, the values to mask in what the task returns, None) or (None, None, the failed result).

    `action` names the module as the task named it (in "Unsupported parameters for (...) module"); `secrets` is the
    key text found in args (masked in messages)."""
    try:
        validated = ArgumentSpecValidator(argument_spec, mutually_exclusive=mutually_exclusive,
                                          required_one_of=required_one_of).validate(args)
    except OverflowError:  # an int option ansible-core converts through Decimal: "inf", 1e400
        validated = None
    masked = set(secrets)
    nested = list_element_problem(argument_spec, args) if validated is not None and not validated.error_messages \
        else None
    if validated is None or validated.error_messages or nested:
        if nested:
            message = nested
        elif validated is None:
            message = overflow_message(argument_spec, args)
        else:
            message = validated.errors.msg
            if isinstance(validated.errors[0], UnsupportedError):
                message = "Unsupported parameters for (%s) module: %s" % (action, message)
        message = redact(message, secrets=masked)
        return None, None, {"failed": True, "msg": message, "error": {"code": "INVALID_ARGUMENT", "message": message}}
    masked.update(getattr(validated, "_no_log_values", ()))  # the no_log options' values, as AnsibleModule masks
    masked.update(text for _path, text in private_key_strings(validated.validated_parameters))
    return validated.validated_parameters, masked, None
