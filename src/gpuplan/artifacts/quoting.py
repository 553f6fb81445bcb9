"""Quoting for the languages artifacts are written in: shell words, comment lines, Markdown/HTML comments.

Plan values are validated when a plan is read (``gpuplan.planbounds``); everything here is the second line of
defence, applied where the text is assembled, so a value that slipped past validation still cannot run a command
or end a comment early:

* ``shell_word``: every argv token is single-quoted by ``shlex.quote``, except the renderer's own variable
  references (``$NODE_RANK``, ``${LLAMA_SERVER:-llama-server}``, ``$((NODE_RANK * 2))``, ``$LWS_LEADER_ADDRESS:20000``)
  which are double-quoted so the shell expands them. Anything else that starts with ``$`` — ``$(cmd)``, backticks,
  ``${x:-$(cmd)}`` — is quoted literally.
* ``comment_line``: control characters and line separators become spaces, so a comment stays one line.
* ``html_comment_text``: as ``comment_line``, and ``-->`` cannot close an HTML comment in Markdown.
"""

from __future__ import annotations

import re
import shlex

from gpuplan.planbounds import check_model_fields

_VAR = r"[A-Z_][A-Z0-9_]*"  # the renderers' variables are upper case (NODE_RANK, LEADER_ADDR, LWS_*)
#: The variable references the renderers themselves write (see module docstring).
RENDERER_VAR_RE = re.compile(
    rf"^\$(?:{_VAR}|\{{{_VAR}(?::-[A-Za-z0-9_./-]+)?\}}|\(\({_VAR} \* [0-9]+\)\))(?::[0-9]+)?$"
)
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def shell_word(token: str, keep_vars: bool = False) -> str:
    """``token`` as one shell word; ``keep_vars`` lets only the renderer's own variable forms expand."""
    if keep_vars and RENDERER_VAR_RE.match(token):
        return f'"{token}"'
    return shlex.quote(token)


def comment_line(text: str) -> str:
    """``text`` safe inside a one-line '#' comment (shell, YAML, Dockerfile): no newline or control character."""
    return _CONTROL_RE.sub(" ", str(text))


def html_comment_text(text: str) -> str:
    """``text`` safe inside ``<!-- ... -->``: one line, and no '-->' (or '--!>') that could end the comment."""
    return re.sub(r"--(!?)>", r"--\1 >", comment_line(text))


def check_plan_values(plan) -> None:
    """Re-check every plan value before rendering (a plan built in code or sent to the API skipped the file reader)."""
    check_model_fields(plan)
