# -*- coding: utf-8 -*-
# This file is private to the certops.backend_tls collection; it is not a public API.
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading nginx, Apache and HAProxy configuration as each server reads it: files and includes (FileSource, the files
of an `nginx -T` dump), each server's words and lines, HAProxy's conditional blocks and relative paths.

Shared by site discovery (_discover) and the load balancer's view of its backends (_lbview_<type>). It lives apart
from _discover so that lb_backend_info's payload does not carry the discovery of sites: ansible-core parses every
module_util a module imports to build its payload, and the host compiles each one it imports twice (zipimport,
Python 3.11). Everything here raises only CertError, whatever the input.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re

from ansible_collections.certops.backend_tls.plugins.module_utils._base import CertError, read_file

MAX_INCLUDE_DEPTH = 32
MAX_INCLUDED_FILES = 10000  # file reads per configuration: bounds include fan-out (a*/ including a*/...)
MAX_BLOCK_DEPTH = 100  # nested { } in nginx; deeper is not a real configuration
MAX_CONFIG_BYTES = 32 * 1024 * 1024  # one configuration file (main, included, crt-list); larger is refused: TOO_LARGE
DEFAULT_CONFIGS = {
    "nginx": ["/etc/nginx/nginx.conf"],
    "apache": ["/etc/apache2/apache2.conf", "/etc/httpd/conf/httpd.conf"],
    "haproxy": ["/etc/haproxy/haproxy.cfg"],
}


class FileSource:
    """Reads and globs files; `files` (path -> text) replaces the filesystem when given."""

    def __init__(self, files=None):
        self.files = files
        self.reads = 0

    def read(self, path):
        self.reads += 1
        if self.reads > MAX_INCLUDED_FILES:
            raise CertError("INVALID_CONFIG", "more than %d configuration files read (include loop?) at %s"
                            % (MAX_INCLUDED_FILES, path))
        if self.files is not None:
            if path not in self.files:
                raise CertError("NOT_FOUND", "%s is not in the configuration dump" % path)
            return self.files[path]
        try:
            # Never blocks: a FIFO, socket or device is refused (NOT_REGULAR_FILE) without being read.
            data = read_file(path, max_bytes=MAX_CONFIG_BYTES)
        except CertError as exc:
            raise CertError(*_config_read_error(path, exc))
        # what open(path, "r", newline=None) read before: universal newlines
        return data.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")

    def glob(self, pattern, recursive=False):
        """The files a pattern names, sorted, as glob(3) finds them (a wildcard matches within one path segment, and
        not a name's leading dot); a directory: its files, and with recursive (Apache's Include) those of every
        directory below it too."""
        if self.files is not None:
            below = recursive and pattern.endswith("/")
            return sorted(p for p in self.files if _glob_match(p, pattern) or (below and p.startswith(pattern)))
        try:
            if os.path.isdir(pattern):
                if recursive:
                    return _tree_files(pattern)
                return sorted(os.path.join(pattern, n) for n in os.listdir(pattern)
                              if os.path.isfile(os.path.join(pattern, n)))
            if recursive:  # Apache: a directory the wildcard matches is included whole, where it sorts
                return [f for p in sorted(glob.glob(pattern)) for f in (_tree_files(p) if os.path.isdir(p) else
                                                                        [p] if os.path.isfile(p) else [])]
            return sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
        except OSError as exc:
            code = "PERMISSION_DENIED" if isinstance(exc, PermissionError) else "NOT_FOUND"
            raise CertError(code, "cannot list %s: %s" % (pattern, exc.strerror))

    def exists(self, path):
        return path in self.files if self.files is not None else os.path.exists(path)


def _tree_files(directory, depth=0):
    """Every file under a directory as Apache's Include reads it: each directory's entries sorted by name, a
    directory read in place where it sorts (x/ before x.conf), dot files included."""
    if depth > MAX_INCLUDE_DEPTH:
        raise CertError("INVALID_CONFIG", "directories nested deeper than %d under %s" % (MAX_INCLUDE_DEPTH, directory))
    out = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if os.path.isdir(path):
            out.extend(_tree_files(path, depth + 1))
        elif os.path.isfile(path):
            out.append(path)
    return out


def _glob_match(path, pattern):
    """Whether glob(3) matches path with pattern (as nginx's include does): segment by segment, a wildcard never
    across a '/', and a name's leading dot only by a pattern segment that begins with one."""
    names, parts = path.split("/"), pattern.split("/")
    return len(names) == len(parts) and all(
        fnmatch.fnmatchcase(name, part) and (part.startswith(".") or not name.startswith(".") or name == part)
        for name, part in zip(names, parts))


def _config_read_error(path, exc):
    """(code, message) for a configuration file that read_file refused, naming the file and what to do."""
    if exc.code == "NOT_A_CERTIFICATE":  # read_file's code for a directory: for a configuration it is not a file
        return "NOT_REGULAR_FILE", "cannot read %s: it is a directory; give the configuration file" % path
    if exc.code == "NOT_REGULAR_FILE":
        return exc.code, "cannot read %s: %s; give the path of a regular configuration file" % (path, exc.message)
    if exc.code == "TOO_LARGE":
        return exc.code, ("cannot read %s: %s (MAX_CONFIG_BYTES); a configuration file this large is not one: "
                          "check the path" % (path, exc.message))
    if exc.code == "NOT_FOUND" and "NUL" in exc.message:
        return exc.code, "cannot read %r: %s" % (path, exc.message)
    return exc.code, "cannot read %s: %s" % (path, exc.message)


def _absolute(path, base):
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(base, path))


def haproxy_default_path(words, config):
    """The base of relative paths a global `default-path` line sets (HAProxy 2.4+): None for `current` (the working
    directory, haproxy_workdir), the configuration's directory for `config`, its parent for `parent`, the path given
    for `origin <path>`; also None for what HAProxy would refuse."""
    mode = words[1] if len(words) > 1 else None
    if mode == "config":
        return os.path.dirname(os.path.abspath(config))
    if mode == "parent":
        return os.path.dirname(os.path.dirname(os.path.abspath(config)))
    if mode == "origin" and len(words) > 2:
        return _absolute(words[2], os.path.dirname(os.path.abspath(config)))
    return None


class HAProxyPaths:
    """How HAProxy resolves a relative path: against ca-base/crt-base when the line has one, else what a global
    `default-path` says (haproxy_default_path), else its working directory (haproxy_workdir, looked up once, and only
    when a relative path needs it). Shared by discovery and the load balancer view."""

    def __init__(self, config):
        self.config, self.default, self._workdir = config, None, None

    def set_default(self, words):
        self.default = haproxy_default_path(words, self.config)

    def absolute(self, value, base=None):
        if os.path.isabs(value):
            return value
        if base:  # a relative ca-base / crt-base is itself resolved as any relative path
            return _absolute(value, self.absolute(base))
        base = self.default
        if not base:
            if self._workdir is None:
                self._workdir = haproxy_workdir(self.config)
            base = self._workdir
        return _absolute(value, base)


def haproxy_workdir(config, proc="/proc"):
    """The directory HAProxy resolves a relative path against when no ca-base/crt-base applies: its working
    directory, not the configuration's. That of a running HAProxy that reads this configuration (a `-f` naming it or
    its directory, read from /proc/<pid>/cmdline and resolved against /proc/<pid>/cwd), else / (Debian's systemd
    unit sets no WorkingDirectory). Measured: run from /, `haproxy -c` cannot open a ca-file named relative to the
    configuration's directory."""
    target = os.path.realpath(config)
    try:
        pids = sorted((name for name in os.listdir(proc) if name.isdigit()), key=int)
    except OSError:
        return "/"
    for pid in pids:
        try:
            with open(os.path.join(proc, pid, "cmdline"), "rb") as handle:
                args = [a.decode("utf-8", "surrogateescape") for a in handle.read(65536).split(b"\0")]
            if not args or not os.path.basename(args[0]).startswith("haproxy"):
                continue
            cwd = os.readlink(os.path.join(proc, pid, "cwd"))
        except OSError:  # gone, or another user's process we may not look into
            continue
        named = [b for a, b in zip(args, args[1:]) if a == "-f"] + [a[2:] for a in args if a.startswith("-f") and a[2:]]
        for name in named:
            path = os.path.realpath(os.path.join(cwd, name))
            if path == target or target.startswith(path.rstrip("/") + "/"):
                return cwd
    return "/"


def split_nginx_dump(text):
    """`nginx -T` output -> {path: content} using its '# configuration file X:' markers."""
    files, current, lines = {}, None, []
    for line in text.splitlines(True):
        match = re.match(r"^# configuration file (.+):\s*$", line)
        if match:
            if current is not None:
                files[current] = "".join(lines)
            current, lines = match.group(1), []
        elif current is not None:
            lines.append(line)
    if current is not None:
        files[current] = "".join(lines)
    return files


def dump_source(dump, main):
    """A FileSource over the files of an `nginx -T` dump, or None (read the files themselves) when there is no dump
    or it does not hold `main` (nginx read another file than the one asked about)."""
    if not dump:
        return None
    source = FileSource(split_nginx_dump(dump))
    return source if main in source.files else None


_NGX_BLANKS = " \t\r\n"
_NGX_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "t": "\t", "r": "\r", "n": "\n"}


def _ngx_unescape(raw):
    """A word as nginx stores it: \\" \\' \\\\ lose their backslash, \\t \\r \\n are control characters, any other
    backslash stays (a regex's \\d)."""
    if "\\" not in raw:
        return raw
    out, i = [], 0
    while i < len(raw):
        if raw[i] == "\\" and i + 1 < len(raw) and raw[i + 1] in _NGX_ESCAPES:
            out.append(_NGX_ESCAPES[raw[i + 1]])
            i += 2
        else:
            out.append(raw[i])
            i += 1
    return "".join(out)


def _lua_block_end(text, i):
    """The index of the `}` that closes a Lua block whose `{` is just before i (lua-nginx-module reads its body as
    Lua, not as nginx words): braces counted outside Lua strings, long brackets and comments; len(text) if none."""
    depth, n = 1, len(text)
    while i < n:
        char = text[i]
        if text.startswith("--", i):
            long_comment = re.match(r"--\[(=*)\[", text[i:i + 64])
            if long_comment:
                close = text.find("]%s]" % long_comment.group(1), i)
                i = n if close < 0 else close + len(long_comment.group(1)) + 2
            else:
                newline = text.find("\n", i)
                i = n if newline < 0 else newline
            continue
        long_string = re.match(r"\[(=*)\[", text[i:i + 64]) if char == "[" else None
        if long_string:
            close = text.find("]%s]" % long_string.group(1), i)
            i = n if close < 0 else close + len(long_string.group(1)) + 2
        elif char in "\"'":
            i += 1
            while i < n and text[i] != char and text[i] != "\n":
                i += 2 if text[i] == "\\" else 1
            i += 1
        else:
            depth += char == "{"
            depth -= char == "}"
            if depth == 0:
                return i
            i += 1
    return n


def nginx_tokens(text):
    """[(value, is_word, line)] of an nginx file, as nginx reads it (ngx_conf_read_token): words (quoted or not) and
    the punctuation `{`, `}` and `;`. A word ends at a blank, `;` or `{` -- not at a `{` right after `$` (`${name}`),
    and never at `}` or `#`, which are plain characters inside a word; a backslash keeps the next character in the
    word; a quoted word ends at its own quote. '#' starts a comment only where a word could start. The body of a
    `*_by_lua_block` (lua-nginx-module) is Lua, skipped whole."""
    tokens, i, n, line = [], 0, len(text), 1
    while i < n:
        char = text[i]
        if char == "\n":
            line += 1
            i += 1
        elif char in _NGX_BLANKS:
            i += 1
        elif char == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif char in "{};":
            tokens.append((char, False, line))
            i += 1
            if char == "{" and len(tokens) > 1 and tokens[-2][1] and tokens[-2][0].endswith("_lua_block"):
                close = _lua_block_end(text, i)
                line += text.count("\n", i, close)
                i = close
        elif char in "\"'":
            j, start = i + 1, line
            while j < n and text[j] != char:
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                if text[j] == "\n":
                    line += 1
                j += 1
            tokens.append((_ngx_unescape(text[i + 1:j]), True, start))
            i = j + 1
        else:
            j, variable = i, False
            while j < n:
                c = text[j]
                if c == "\\" and j + 1 < n:
                    j += 2
                    variable = False
                    continue
                if c in _NGX_BLANKS or c == ";" or (c == "{" and not variable):
                    break
                variable = c == "$" or (c == "{" and variable)
                j += 1
            tokens.append((_ngx_unescape(text[i:j]), True, line))
            i = j
    return tokens


def nginx_tree(path, source, prefix, depth=0, stack=(), nesting=0, strict=False):
    """An nginx file as [{name, args, file, line, children}] (children None for a simple directive), includes read
    in place. Bounded: MAX_INCLUDE_DEPTH includes deep, MAX_BLOCK_DEPTH blocks deep counted across includes (the
    walks over the tree recurse per block), an include cycle is an error. A stray `}` is ignored, and so are words
    left without their `;` when a block closes; `strict`: those, and a file that ends inside a block or a directive,
    are an INVALID_CONFIG error, as nginx refuses them."""
    if depth > MAX_INCLUDE_DEPTH:
        raise CertError("INVALID_CONFIG", "include nesting deeper than %d at %s" % (MAX_INCLUDE_DEPTH, path))
    stack = stack + (path,)
    root = []
    open_blocks = [root]
    words = []
    for value, is_word, line in nginx_tokens(source.read(path)):
        if is_word:
            words.append((value, line))
            continue
        current = open_blocks[-1]
        if strict and value in ";{" and not words:
            raise CertError("INVALID_CONFIG", "%s line %d: unexpected \"%s\" with no directive before it: nginx "
                            "refuses this configuration" % (path, line, value))
        if value == ";":
            if words and words[0][0] == "include" and len(words) > 1:
                for included in source.glob(_absolute(words[1][0], prefix)):
                    if included in stack:
                        raise CertError("INVALID_CONFIG", "include cycle: %s includes %s again" % (path, included))
                    current.extend(nginx_tree(included, source, prefix, depth + 1, stack,
                                              nesting + len(open_blocks) - 1, strict))
            elif words:
                current.append({"name": words[0][0], "args": [w for w, _l in words[1:]], "file": path,
                                "line": words[0][1], "children": None})
            words = []
        elif value == "{":
            if nesting + len(open_blocks) > MAX_BLOCK_DEPTH:
                raise CertError("INVALID_CONFIG", "blocks nested deeper than %d in %s" % (MAX_BLOCK_DEPTH, path))
            block = {"name": words[0][0] if words else "", "args": [w for w, _l in words[1:]], "file": path,
                     "line": words[0][1] if words else line, "children": []}
            current.append(block)
            open_blocks.append(block["children"])
            words = []
        else:  # "}": words without their ';' end with the block (nginx refuses them), and a stray one is skipped
            if strict and (words or len(open_blocks) == 1):
                raise CertError("INVALID_CONFIG", "%s line %d: unexpected \"}\"%s: nginx refuses this configuration"
                                % (path, line, " after %r without its \";\"" % words[0][0] if words else ""))
            if len(open_blocks) > 1:
                open_blocks.pop()
            words = []
    if strict and (words or len(open_blocks) > 1):
        raise CertError("INVALID_CONFIG", "%s: unexpected end of file, expecting %s: nginx refuses this configuration"
                        % (path, "\";\" or \"}\"" if words else "\"}\""))
    return root


_AP_SPACE = " \t\n\v\f\r"  # apr_isspace in the C locale: no other character (a no-break space) separates words


def apache_lines(text):
    """(first line number, logical line) of an Apache configuration file, as Apache reads it (ap_cfg_getline;
    measured with Apache 2.4.71): a physical line ends at a newline (a carriage return before it dropped); one that
    ends in a backslash goes on with the next physical line, joined as written (that backslash dropped, nothing
    added, the next line's indentation kept), except the last line of a file without a final newline. The logical
    line loses leading and trailing whitespace; one that then starts with # is a comment, so a comment ending in a
    backslash takes the next line with it, as in Apache (one ending in a backslash and a space does not)."""
    physical = text.split("\n")
    buf, start = "", None
    for number, raw in enumerate(physical, start=1):
        last = number == len(physical)
        content = raw[:-1] if not last and raw.endswith("\r") else raw
        start = start or number
        if content.endswith("\\") and not last:
            buf += content[:-1]
            continue
        line, buf, first, start = (buf + content).strip(_AP_SPACE), "", start, None
        if line and not line.startswith("#"):
            yield first, line


def _apache_word(text, i):
    """(the word at text[i:], where the next one starts) as Apache's ap_getword_conf reads it (see apache_words)."""
    n = len(text)
    if i >= n:  # nothing left (a line a ${VAR} emptied, a lone "<"): the empty word
        return "", n
    quote = text[i] if text[i] in "\"'" else None
    start = j = i + 1 if quote else i
    while j < n and (text[j] != quote if quote else text[j] not in _AP_SPACE):
        j += 2 if quote and text[j] == "\\" and j + 1 < n and text[j + 1] in (quote, "\\") else 1
    raw, out, k = text[start:j], [], 0
    while k < len(raw):  # substring_conf: a backslash before a backslash (or, quoted, the quote) stands for it
        if raw[k] == "\\" and k + 1 < len(raw) and (raw[k + 1] == "\\" or (quote and raw[k + 1] == quote)):
            k += 1
        out.append(raw[k])
        k += 1
    return "".join(out), (j + 1 if quote and j < n else j)


def apache_words(text):
    """The words of an Apache directive line, as ap_getword_conf reads them (measured with Apache 2.4.71): separated
    by ASCII whitespace only; a word quoted with " or ' runs to the same quote, or to the end of the line when it is
    not closed, and ends there even when another word follows without a space ("a"b is two words); inside quotes a
    backslash before the quote or a backslash stands for that character, outside only before a backslash."""
    words, i = [], 0
    while True:
        while i < len(text) and text[i] in _AP_SPACE:
            i += 1
        if i >= len(text):
            return words
        word, i = _apache_word(text, i)
        words.append(word)


def apache_directive(line):
    """A logical line -> (its first word, the rest as written): the directive, then what apache_words reads."""
    word, end = _apache_word(line, 0)
    return word, line[end:]


def _apache_section(rest):
    """The arguments of a section's opening tag (`<Proxy "url">`): up to its last '>', as mod_proxy and core cut
    them before reading the words."""
    cut = rest.rfind(">")
    return rest[:cut] if cut >= 0 else rest


_APACHE_VAR = re.compile(r"\$\{[^}]+\}")


class _ApacheState:
    def __init__(self, source, server_root, defines):
        self.source = source
        self.server_root = server_root
        self.defines = defines
        self.listen = []
        self.globals = {}
        self.vhosts = []
        self.proxy_protocol = []  # (on?, the VirtualHost's addresses, or None: the main server's, every address)
        # the parameters <IfDefine> tests: those given (as httpd's -D) and Define'd (one or two arguments) are
        # defined, those UnDefine'd are not; any other is unknown here (httpd's own -D flags, as Gentoo's and SUSE's
        # `-D SSL`, are not known), and its section is read as if its test held
        self.parameters = set(self.defines)
        self.undefined = set()
        self.main_names = []  # the main server's ServerName

    def expand(self, value):
        return re.sub(r"\$\{([^}]+)\}", lambda m: self.defines.get(m.group(1), os.environ.get(m.group(1), m.group(0))),
                      value)


_HAPROXY_SECTIONS = ("global", "defaults", "frontend", "backend", "listen", "userlist", "peers",
                     "resolvers", "mailers", "program", "http-errors", "ring", "cache")


# HAProxy 2.6 parse_line: $NAME, or ${NAME}, ${NAME[*]}, ${NAME-default}, ${NAME[*]-default}; a name starting with a
# dot is a pseudo-variable (.LINE, .FILE, .SECTION)
_HAPROXY_VAR = re.compile(r"\$(?:\{(\.?[A-Za-z_][A-Za-z0-9_]*)(\[\*\])?(?:-([^}]*))?\}|(\.?[A-Za-z_][A-Za-z0-9_]*))")


class HAProxyEnv(dict):
    """HAProxy's environment as a configuration sets it: {name: value} of `setenv`/`presetenv`, and the names known
    to be unset (`unsetenv`, and after `resetenv` every name it does not list). Any other name is unknown: it is
    whatever HAProxy's own process environment holds."""

    def __init__(self, *args, **kwargs):
        dict.__init__(self, *args, **kwargs)
        self.unset = set()  # names unsetenv removed (and not set again)
        self.reset = False  # resetenv ran: every name not set, not in kept, is unset
        self.kept = set()  # the names a resetenv listed that it left unknown

    def set(self, name, value):
        self[name] = value
        self.unset.discard(name)

    def forget(self, name):
        """A name set to what only HAProxy knows (setenv NAME "$OTHER"): unknown from here on."""
        self.pop(name, None)
        self.unset.discard(name)
        if self.reset:
            self.kept.add(name)

    def drop(self, name):
        """unsetenv NAME (HAProxy 2.6 cfg_parse_global: unsetenv())."""
        self.pop(name, None)
        self.unset.add(name)
        self.kept.discard(name)

    def clear_except(self, names):
        """resetenv [NAME...]: every variable but the listed ones is removed; the listed keep what they had."""
        listed = set(names)
        for name in list(self):
            if name not in listed:
                del self[name]
        self.kept = {name for name in listed if name not in self and not self.known_unset(name)}
        self.unset = set()
        self.reset = True

    def known_unset(self, name):
        return name not in self and (name in self.unset or (self.reset and name not in self.kept))


def ha_known_unset(env, name):
    """Whether HAProxy's environment is known not to hold name (env: an HAProxyEnv, or a plain {name: value})."""
    return bool(getattr(env, "known_unset", None)) and env.known_unset(name)


def _ha_variable(match, env, context):
    """(value or None when it is only known to HAProxy, word expansion) of one variable as HAProxy 2.6's parse_line
    expands it: the variable's value if set, else ${NAME-default}'s default when the variable does not exist (an empty
    one stays empty), else the empty string. context: {".LINE": .., ".SECTION": ..} as far as known (.FILE is how
    HAProxy was started, not known here)."""
    name = match.group(1) or match.group(4)
    expand, default = bool(match.group(2)), match.group(3)
    if name.startswith("."):
        value = (context or {}).get(name)
        return (None if value is None else str(value)), expand
    if name in env:
        return env[name], expand
    if ha_known_unset(env, name):
        return (default if default is not None else ""), expand
    return None, expand


_HAPROXY_ESCAPES = {" ": " ", "\\": "\\", "#": "#", "'": "'", '"': '"', "t": "\t", "n": "\n", "r": "\r"}
_HEX = frozenset("0123456789abcdefABCDEF")


def _haproxy_escape(line, i, quote, buf):
    """The backslash at line[i] (outside single quotes), as HAProxy's parse_line reads it: \\<space>, \\\\, \\#, \\',
    \\" and \\t, \\n, \\r are the character they name, \\xHH the byte HH, \\$ a dollar inside double quotes; any
    other backslash stays in the word as written (\\. is a backslash and a dot). Appends to buf; returns how many
    characters were read. A \\x without two hex digits is a line HAProxy refuses: INVALID_CONFIG."""
    following = line[i + 1:i + 2]
    if following in _HAPROXY_ESCAPES:
        buf.append(_HAPROXY_ESCAPES[following])
        return 2
    if following == "$" and quote == '"':
        buf.append("$")
        return 2
    if following == "x":
        digits = line[i + 2:i + 4]
        if len(digits) < 2 or not set(digits) <= _HEX:
            raise CertError("INVALID_CONFIG", "truncated or invalid hexadecimal sequence %r: HAProxy refuses this "
                            "line" % line[i:i + 4])
        value = int(digits, 16)
        buf.append(chr(value) if value < 0x80 else chr(0xDC00 + value))  # a byte: _haproxy_word decodes them
        return 4
    buf.append("\\")
    return 1


def _haproxy_word(buf):
    """A word's characters as HAProxy hands the word on: the bytes of \\xHH escapes (0x80 and up, held as lone
    surrogates) decoded as UTF-8 with their neighbours, as FileSource decodes a file; cut at a NUL byte (\\x00),
    where HAProxy's C string ends."""
    word = "".join(buf)
    if any("\udc80" <= char <= "\udcff" for char in word):
        word = word.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return word.split("\0", 1)[0]


def _haproxy_words(line, env, context=None):
    """One haproxy.cfg line -> [(word, dynamic)], the way HAProxy 2.6 (parse_line) splits it.

    Quotes and backslashes group and escape; an unquoted '#' starts a comment; "$VAR" / "${VAR}" are expanded inside
    double quotes only, from `setenv`/`presetenv` seen so far (env, a {name: value} or an HAProxyEnv): a variable
    known to be unset (unsetenv, resetenv) is the empty string, ${VAR-default} its default (for a variable that does
    not exist, not an empty one), ${VAR[*]} its value split on spaces into words (the first joined to what precedes
    it, the last to what follows). The pseudo-variables ${.LINE} and ${.SECTION} come from context {".LINE": n,
    ".SECTION": name} when given. Any other variable, ${.FILE} included, comes from HAProxy's own environment or its
    command line, which are not ours: the word is marked dynamic (and a dynamic ${VAR[*]} may be any number of words).
    """
    words, buf, dynamic, quote, started = [], [], False, None, False
    i, n = 0, len(line)
    while i < n:
        char = line[i]
        if quote is None and char in " \t":
            if started:
                words.append((_haproxy_word(buf), dynamic))
                buf, dynamic, started = [], False, False
        elif quote is None and char == "#":
            break
        elif char == "\\" and quote != "'":
            i += _haproxy_escape(line, i, quote, buf) - 1  # (and the 1 below)
            started = True
        elif quote is None and char in "\"'":
            quote, started = char, True
        elif char == quote:
            quote = None
        elif char == "$" and quote == '"' and _HAPROXY_VAR.match(line, i):
            match = _HAPROXY_VAR.match(line, i)
            value, expand = _ha_variable(match, env, context)
            if value is None:
                buf.append(match.group(0))
                dynamic = True
            elif expand:  # each run of spaces ends a word (HAProxy 2.6 parse_line: EMIT_CHAR(0), ++arg)
                parts = re.split(r"\s+", value)
                buf.append(parts[0])
                for part in parts[1:]:
                    words.append((_haproxy_word(buf), dynamic))
                    buf, dynamic = [part], False
            else:
                buf.append(value)
            i = match.end()
            continue
        else:
            buf.append(char)
            started = True
        i += 1
    if started:
        words.append((_haproxy_word(buf), dynamic))
    return words


_HA_COND_TOKEN = re.compile(r"\s*(\|\||&&|!|\(|\)|[A-Za-z_][A-Za-z0-9_]*\([^()]*\)|[^\s()!&|]+)")


def _ha_predicate(term, env):
    """One condition term of HAProxy's (cfgcond.c) as far as it can be decided here: True, False or None (unknown:
    what HAProxy's own environment, features or version decide)."""
    if term.isdigit():
        return int(term) != 0
    name, _paren, rest = term.partition("(")
    args = rest[:-1].split(",") if rest.endswith(")") else None
    if args is None:
        return None
    if name == "defined" and len(args) == 1:
        if args[0] in env:
            return True
        # (HAProxy's environment holds more than its setenv lines, unless unsetenv or resetenv removed the name)
        return False if ha_known_unset(env, args[0]) else None
    if name in ("streq", "strneq") and len(args) == 2:
        return (args[0] == args[1]) == (name == "streq")
    return None


def ha_condition(words, env):
    """The value of an `.if`/`.elif` condition (its words after the directive, as _haproxy_words gives them): True,
    False, or None when it cannot be decided here (a dynamic word, an unknown predicate, HAProxy's environment).
    `!`, `&&`, `||` and parentheses as HAProxy 2.6 reads them, in three-valued logic."""
    if not words or any(dynamic for _word, dynamic in words):
        return None
    tokens = _HA_COND_TOKEN.findall(" ".join(word for word, _dynamic in words))
    if len(tokens) > 64:  # no condition a person writes; and the reading below recurses on each '(' and '!'
        return None
    position = [0]

    def peek():
        return tokens[position[0]] if position[0] < len(tokens) else None

    def take():
        position[0] += 1
        return tokens[position[0] - 1]

    def term():
        token = take() if peek() is not None else ")"
        if token == "!":
            value = term()
            return None if value is None else not value
        if token == "(":
            value = either()
            return value if take_if(")") else None
        if token in (")", "&&", "||"):
            return None
        return _ha_predicate(token, env)

    def take_if(token):
        if peek() == token:
            take()
            return True
        return False

    def both():
        values = [term()]
        while take_if("&&"):
            values.append(term())
        return False if False in values else None if None in values else True

    def either():
        values = [both()]
        while take_if("||"):
            values.append(both())
        return True if True in values else None if None in values else False

    value = either()
    return value if position[0] == len(tokens) else None


class HAConditions:
    """HAProxy's conditional blocks (`.if`, `.elif`, `.else`, `.endif`) as far as they can be decided here: skip(tokens)
    says whether a line is not read (a block HAProxy skips, or one of these directives, or `.notice` and the like);
    a block whose condition cannot be decided (ha_condition None) is read, as every branch was before."""

    def __init__(self, env):
        self.env = env
        self.blocks = []  # [state of the branch being read (True, False, None), a branch was taken, one may have been]

    def _active(self):
        return all(block[0] is not False for block in self.blocks)

    def skip(self, tokens):
        keyword = tokens[0][0] if tokens else ""
        if not keyword.startswith("."):
            return not self._active()
        if keyword == ".if":
            state = ha_condition(tokens[1:], self.env) if self._active() else False
            self.blocks.append([state, state is True, state is None])
        elif keyword in (".elif", ".else") and self.blocks:
            block = self.blocks.pop()
            state = ha_condition(tokens[1:], self.env) if keyword == ".elif" else True
            if block[1] or not self._active():
                state = False
            elif block[2] and state is not False:
                state = None  # an earlier branch may have been taken
            self.blocks.append([state, block[1] or state is True, block[2] or state is None])
        elif keyword == ".endif" and self.blocks:
            self.blocks.pop()
        return True


def default_config(server_type):
    for candidate in DEFAULT_CONFIGS[server_type]:
        if os.path.exists(candidate):
            return candidate
    return DEFAULT_CONFIGS[server_type][0]
