"""Text from a run or a trace, made safe for each place it is shown: one function a format.

Run files and traces are data anyone can write: a function name, a file name or a call
stack may hold ANSI escapes, bidi controls, Markdown or HTML. A reader sees such text as
written, never as instructions to a terminal or a renderer:

- terminal (``clean``): control characters and bidi controls shown as ``\\x1b``,
  ``\\u202e``; the terminal renderer passes data to rich as ``Text``, never as markup;
- Markdown (``md_text``, ``md_code``): one line, and nothing of it forms HTML, a link, an
  image, emphasis, a heading, a list or a table cell;
- HTML (``html_text``): ``clean``, then every ``<>&"'`` escaped;
- JSON (``json_text``): strict JSON, ASCII only (bidi controls are ``\\u`` escapes);
- GitHub workflow commands (``github_data``, ``github_property``): ``clean``, then what
  would end the command or one of its values percent-encoded, as GitHub's runner decodes it;
- JSON inside an HTML ``<script>`` (``script_json``): ``clean`` strings, and nothing that
  could end the element or the line (``</script>``, ``<!--``, U+2028);
- messages (``terminal_line``: errors, where a run was saved): ``clean`` on one line.

Imports nothing of perfkit: capture, the renderers and the CLI all use it.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Callable
from typing import Any

# C0/C1 controls (ANSI escapes start with ESC, or with CSI, U+009B) and the controls that
# reorder text on screen (U+202E shows "exe.txt" as "txt.exe"): made visible everywhere.
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}]")
_CONTROL_OR_SPACING = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}]")


def _shown(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(text: object) -> str:
    """The text with control and bidi characters shown escaped; tabs and line breaks kept."""
    return _CONTROL.sub(_shown, str(text))


def printable(text: str) -> str:
    """Text every UTF-8 stream accepts: bytes of a file name that are not UTF-8 (kept by
    Python as surrogates) are shown as ``\\xNN`` instead of failing the write."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def terminal_line(text: object) -> str:
    """One message line (an error, where a file went): ``clean``, line breaks and tabs
    escaped too, so a file name can neither add a line nor move the cursor."""
    return printable(_CONTROL_OR_SPACING.sub(_shown, str(text)))


_LINE_BREAK = re.compile(r"\r\n|[\r\n]")
# Everything CommonMark or GitHub could read as markup: HTML and entities (<>&), links and
# images ([]!), emphasis and strikethrough (*_~), code (`), tables (|), headings and quotes
# (#>), math ($), and the backslash itself.
_MD_PUNCT = re.compile(r"([\\`*_\[\]<>&!|#~$])")
# A list item or a thematic break, when the text starts a line ("- x", "+ x", "1. x").
_MD_LINE_START = re.compile(r"^(?=[-+])|^\d+(?=[.)](\s|$))")


def _one_line(text: object) -> str:
    """``clean`` on one line: a line break would render as a space anyway, and a blank line
    would end the paragraph, the list item or the table row the text is in."""
    return _LINE_BREAK.sub(" ", clean(text))


def md_text(text: object) -> str:
    """Markdown that renders as the text, literally."""
    # Stripped: Markdown drops the spaces around a paragraph, and four in front make the
    # line a code block, where backslash escapes show.
    out = _MD_PUNCT.sub(r"\\\1", _one_line(text).strip())
    return _MD_LINE_START.sub(lambda m: m.group() + "\\", out, count=1)


def md_code(text: object) -> str:
    """An inline code span of the text, whatever backticks it holds: the fence is one
    backtick longer than the longest run inside (CommonMark), padded with a space where the
    text starts or ends with a backtick or a space. Not for table cells (``|`` splits them
    even inside code)."""
    body = _one_line(text)
    fence = "`" * (max(map(len, re.findall("`+", body)), default=0) + 1)
    if not body or body[0] in "` " or body[-1] in "` ":
        body = f" {body} "
    return f"{fence}{body}{fence}"


def html_text(text: object) -> str:
    """HTML text or an attribute value (quotes escaped too) that shows the text literally."""
    return html.escape(clean(text), quote=True)


def github_data(text: object) -> str:
    """A workflow command's data (an annotation's message): ``clean``, as the log shows ANSI
    colours (CR too becomes ``\\x0d``), then ``%`` and LF as ``%25`` and ``%0A`` ("Workflow
    commands for GitHub Actions"), so the text can neither end the command nor start another."""
    return clean(text).replace("%", "%25").replace("\n", "%0A")


def github_property(text: object) -> str:
    """A workflow command's property value (``file=``, ``title=``): ``github_data``, and
    ``:`` and ``,`` as ``%3A`` and ``%2C``, which would end the value or the properties."""
    return github_data(text).replace(":", "%3A").replace(",", "%2C")


def _finite(data: Any, strings: Callable[[str], str] = str) -> Any:
    """``data`` with numbers that are not finite as None, and ``strings`` applied to text."""
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if isinstance(data, str):
        return strings(data)
    if isinstance(data, dict):
        return {k: _finite(v, strings) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(v, strings) for v in data]
    return data


def json_text(data: Any) -> str:
    """Strict JSON (RFC 8259): a number that is not finite (an infinite duration in a damaged
    trace) is ``null``, never ``Infinity``; non-ASCII text is ``\\u`` escaped, so bidi
    controls cannot reorder what a viewer shows."""
    return json.dumps(_finite(data), indent=2, default=str, allow_nan=False) + "\n"


def script_json(data: Any) -> str:
    """Compact JSON to put inside an HTML ``<script>`` element, read back with
    ``JSON.parse``: strings ``clean``, ASCII only (U+2028 and U+2029 escaped), and ``<``,
    ``>``, ``&`` as ``\\u`` escapes, so that no ``</script>`` or ``<!--`` in a name can end or
    change the element. Numbers that are not finite are ``null``."""
    text = json.dumps(_finite(data, clean), separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
