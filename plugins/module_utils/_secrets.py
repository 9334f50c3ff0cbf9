# -*- coding: utf-8 -*-
# This file is private to the certops.backend_tls collection; it is not a public API.
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keep PEM private key text out of what a module logs and returns, whichever option carries it.

Three facts of AnsibleModule (ansible-core 2.17 to 2.19) that a declared ``no_log`` does not cover:

- It logs its invocation to syslog/journald inside its constructor. A list or dict option is logged
  as its Python repr, where a key's newlines are written ``\\n``: the declared no_log value (with real
  newlines) no longer matches, so ``items[].key_content`` was logged line by line.
- A key pasted into an option that is not secret (``chain``, ``intermediates``, ``ca_content``) is
  logged and returned as it is.
- ``AnsibleModule(no_log=True)`` cannot stop that: the task's own ``no_log`` (``_ansible_no_log``,
  which the controller always sends) replaces it before the invocation is logged.

``KeySafeModule`` closes the three (and turns an int option ansible-core cannot convert, such as ``inf``, into an
argument error instead of an OverflowError traceback): its ``log()`` masks PEM private key blocks in any form, and its
``exit_json()``/``fail_json()`` add every argument string holding key text to ``no_log_values``
first (also when argument validation fails inside the constructor). The functions above it are pure.
"""

from __future__ import annotations

import re

from ansible.module_utils import basic as _basic
from ansible.module_utils.basic import AnsibleModule, _load_params
from ansible.module_utils.common.validation import check_type_int

MARKER = "PRIVATE KEY-----"  # in every BEGIN and END line of a PEM private key, whatever its kind
REDACTED = "********"
# Matches the block as written and as a repr writes it (newlines as \n); BEGIN without END runs to the end.
_PEM_PRIVATE_KEY = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(?:-----END \1PRIVATE KEY-----|\Z)", re.DOTALL)


def private_key_strings(value, *, where=()):
    """Every string in nested dicts/lists that holds PEM private key text -> [(path, string)].

    path is the tuple of dict keys and list indexes leading to it, e.g. ("items", 2, "chain").
    """
    found = []
    stack = [(where, value)]
    while stack:
        path, current = stack.pop()
        if isinstance(current, str):
            if MARKER in current:
                found.append((path, current))
        elif isinstance(current, dict):
            # a key pasted where a name goes (config: {<key text>: path}) is a dict key
            found.extend((path, key) for key in current if isinstance(key, str) and MARKER in key)
            stack.extend((path + (key,), item) for key, item in current.items())
        elif isinstance(current, (list, tuple)):
            stack.extend((path + (index,), item) for index, item in enumerate(current))
    return found


def option_name(path):
    """("items", 2, "chain") -> "items[2].chain"."""
    text = ""
    for part in path:
        text += "[%d]" % part if isinstance(part, int) else ("." if text else "") + str(part)
    return text


_KEY_END = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY-----")
_BASE64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def _mask_headless_keys(text):
    """text with each END line of a PEM private key masked together with the base64 lines before it, as written or as
    a repr writes them (newlines as \\n, or doubly escaped): a key whose BEGIN line was cut off (a truncated paste) is
    no block to find, and Ansible may have rewritten the text around it before logging it. One backward walk from
    each END line, over base64 characters, line ends, backslashes, spaces and tabs, and a '=' only where padding
    stands (before a line end): the option name before `=` stays; words of the base64 alphabet just before the key
    may be masked with it. Linear in the text."""
    out, last = [], 0
    for match in _KEY_END.finditer(text):
        start = match.start()
        while start > last:
            char, after = text[start - 1], text[start:start + 1]
            # base64, line ends, any escaping of them (a repr of a repr doubles the backslashes), spaces and tabs
            if char in _BASE64 or char in "\r\n\\ \t":
                start -= 1
            elif char == "=" and (after in ("\r", "\n", "\\", "=", " ", "\t") or text.startswith("-----END", start)):
                start -= 1
            else:
                break
        out.append(text[last:start])
        out.append(REDACTED)
        last = match.end()
    out.append(text[last:])
    return "".join(out)


def redact(text, *, secrets=()):
    """text with each secret holding key text masked as it is and as a repr writes it, each other multi-line secret as
    a repr writes it, then every PEM private key block and every private key END line with the base64 before it (a
    key whose BEGIN line was cut off, or a secret Ansible rewrote before logging it: _mask_headless_keys). Bytes are
    read as UTF-8; anything else that is not text is given back as it is."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        return text
    for secret in secrets:
        if not isinstance(secret, str):
            continue
        forms = [secret] if MARKER in secret else []
        if "\n" in secret:
            forms.append(repr(secret)[1:-1])
        for form in forms:
            if form and form in text:
                text = text.replace(form, REDACTED)
    if MARKER in text:
        text = _mask_headless_keys(_PEM_PRIVATE_KEY.sub(REDACTED, text))
    return text


def redact_all(value, *, secrets=()):
    """value (nested dicts, lists, strings) with redact() applied to every string: what a failure returns."""
    if isinstance(value, str):
        return redact(value, secrets=secrets)
    if isinstance(value, dict):
        return dict((redact_all(k, secrets=secrets), redact_all(v, secrets=secrets)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [redact_all(item, secrets=secrets) for item in value]
    return value


def _names_hold_key_text(value):
    """Whether a dict key anywhere in value holds PEM private key text."""
    if isinstance(value, dict):
        return any((isinstance(key, str) and MARKER in key) or _names_hold_key_text(item)
                   for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return any(_names_hold_key_text(item) for item in value)
    return False


def _overflows(value):
    try:
        check_type_int(value)
    except OverflowError:
        return True
    except (TypeError, ValueError):
        pass
    return False


def overflow_message(argument_spec, params):
    """The argument error for an int option ansible-core's validation overflows on ("inf", 1e400: it converts through
    Decimal and raises OverflowError instead of an argument error), naming the options."""
    names = sorted(name for name, spec in argument_spec.items()
                   if spec.get("type") == "int" and _overflows(params.get(name)))
    return "%s: not an integer (infinite or out of range)" % ", ".join(names or ["an integer option"])


def list_element_problem(argument_spec, params, where=""):
    """The argument error for a list of strings or paths holding a list or a dict, which ansible-core would turn into
    its text without a word (`paths: ["{{ files }}"]` with `files` a list is the one path "['a', 'b']", a glob that
    matches nothing), else None. Names the option and the item, never its value; suboptions too."""
    if not isinstance(params, dict):
        return None
    for name, spec in (argument_spec or {}).items():
        given = [n for n in [name] + list(spec.get("aliases") or ()) if params.get(n) is not None]
        if not given:
            continue
        value, label = params[given[0]], where + given[0]
        if spec.get("type") == "list" and spec.get("elements") in ("str", "path") and isinstance(value, list):
            for index, element in enumerate(value):
                if isinstance(element, (list, dict)):
                    return ("%s[%d] is a %s, where a %s belongs: give each as an item of its own (a template giving a "
                            "whole list is the option's value itself, %s: \"{{ a_list }}\", not an item of a list)"
                            % (label, index, "list" if isinstance(element, list) else "dict",
                               "path" if spec["elements"] == "path" else "string", given[0]))
        if spec.get("options"):
            items = value if spec.get("type") == "list" and isinstance(value, list) else [value]
            for index, item in enumerate(items):
                problem = list_element_problem(
                    spec["options"], item, "%s[%d]." % (label, index) if items is value else label + ".")
                if problem:
                    return problem
    return None


class KeySafeModule(AnsibleModule):
    """An AnsibleModule that neither logs nor returns PEM private key text, whichever option holds it.

    `private_key_strings` lists the argument strings that hold key text, as given (before validation),
    so the module can refuse keys in options that are not meant for them.
    """

    def __init__(self, *args, **kwargs):
        # Read first: AnsibleModule validates (and may fail) and logs inside its constructor.
        given = _load_params()
        self.private_key_strings = private_key_strings(given)
        self._validating = True  # a failure now is an argument error (unknown option, wrong type...)
        try:
            super().__init__(*args, **kwargs)
            problem = list_element_problem(self.argument_spec, given)
            if problem:  # (its validation turned the list into text)
                self.fail_json(msg=problem, error={"code": "INVALID_ARGUMENT", "message": problem})
            self._validating = False
        except OverflowError:
            # ansible-core converts an int option through Decimal: "inf" or 1e400 raise OverflowError out of
            # its validation instead of an argument error. Everything fail_json needs is set by then.
            self.no_log_values.update(str(self.params[name]) for name, spec in self.argument_spec.items()
                                      if spec.get("no_log") and self.params.get(name) not in (None, ""))
            message = overflow_message(self.argument_spec, self.params)
            self.fail_json(msg=message, error={"code": "INVALID_ARGUMENT", "message": message})

    def _key_texts(self):
        """Every argument string holding key text: as given, and as validated (a string option converted to a list
        is split on commas, and the pieces of a legacy encrypted PEM (Proc-Type: 4,ENCRYPTED) differ from it)."""
        texts = set(text for _path, text in self.private_key_strings)
        texts.update(text for _path, text in private_key_strings(getattr(self, "params", None)))
        return texts

    def log(self, msg, log_args=None):
        # Called inside the constructor too (the invocation), before exit_json/fail_json add the key texts to
        # no_log_values: they are masked here as well.
        secrets = set(self.no_log_values) | self._key_texts()
        if log_args:  # journald stores each logged argument as a field of its own
            log_args = dict((name, redact(str(value), secrets=secrets)) for name, value in log_args.items())
        super().log(redact(msg, secrets=secrets), log_args=log_args)

    def _mask_private_keys(self):
        self.no_log_values.update(self._key_texts())

    def _invocation(self, kwargs):
        """kwargs with an `invocation` whose option names hold no key text. AnsibleModule masks no_log values, never
        dict keys, and a key pasted where a name goes (config: {<key text>: path}) is one."""
        params = getattr(self, "params", None)
        if "invocation" not in kwargs and _names_hold_key_text(params):
            kwargs = dict(kwargs, invocation={"module_args": redact_all(params, secrets=self.no_log_values)})
        return kwargs

    def _return_formatted(self, kwargs):
        # AnsibleModule passes every result through remove_values(), which copies it whole to mask the no_log
        # values, also when there are none: then the copy is the result itself, and cost a quarter of the CPU of
        # backend_cert_info's main() over 1,000 files (0.27 s, 0.20 without). With nothing to mask it is skipped;
        # with anything to mask (a no_log option given, key text in any option) the result is masked as always.
        masking = getattr(_basic, "remove_values", None)
        if self.no_log_values or masking is None:
            return super()._return_formatted(kwargs)

        def nothing_to_mask(value, no_log_strings):
            return masking(value, no_log_strings) if no_log_strings else value

        _basic.remove_values = nothing_to_mask
        try:
            return super()._return_formatted(kwargs)
        finally:
            _basic.remove_values = masking

    def exit_json(self, **kwargs):
        self._mask_private_keys()
        super().exit_json(**self._invocation(kwargs))

    def fail_json(self, msg, **kwargs):
        self._mask_private_keys()
        if getattr(self, "_validating", False) and "error" not in kwargs:
            # AnsibleModule's own argument validation failed: coded like the module's own argument errors.
            kwargs["error"] = {"code": "INVALID_ARGUMENT", "message": msg}
        # A message may quote an argument with %r, which writes a key's newlines as \n: no_log_values (the text as
        # given) no longer match it, so the key blocks are masked in every form here.
        secrets = self.no_log_values
        super().fail_json(redact(str(msg), secrets=secrets), **self._invocation(
            dict((name, redact_all(value, secrets=secrets)) for name, value in kwargs.items())))
