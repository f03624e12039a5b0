"""Kubernetes' `$(VAR)` expansion, for env values, command and args.

The rules of k8s.io/kubernetes third_party/forked/golang/expansion: `$(NAME)` becomes the
value of NAME when it is defined and stays as written when not; `$$` is an escaped `$`;
a `$` before anything else, and an unclosed `$(`, stay literal.
"""

from __future__ import annotations

from typing import Mapping


def expand(value: str, env: Mapping[str, str]) -> str:
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        ch = value[i]
        if ch != "$" or i + 1 == n:
            out.append(ch)
            i += 1
            continue
        nxt = value[i + 1]
        if nxt == "$":  # `$$` -> `$`
            out.append("$")
            i += 2
        elif nxt == "(":
            close = value.find(")", i + 2)
            if close == -1:  # unclosed: `$(` is literal, the rest is read on
                out.append("$(")
                i += 2
                continue
            name = value[i + 2:close]
            out.append(env[name] if name in env else f"$({name})")
            i = close + 1
        else:
            out.append("$" + nxt)
            i += 2
    return "".join(out)
