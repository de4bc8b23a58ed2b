"""Renderers: each formats a Report and computes nothing.

``RENDERERS`` maps a ``--format`` name to a Renderer; ``for_path`` picks one from an output
file's extension.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from perfkit.findings import Report


@dataclass(frozen=True)
class Renderer:
    name: str
    extensions: tuple[str, ...]
    render: Callable[..., str]  # (report, color=False, width=100) -> str


def _load() -> dict[str, Renderer]:
    from perfkit.report import github, html, jsonfmt, markdown, sarif, terminal

    return {
        r.name: r
        for r in (
            Renderer("terminal", (".txt",), terminal.render),
            Renderer("markdown", (".md", ".markdown"), markdown.render),
            Renderer("json", (".json",), jsonfmt.render),
            Renderer("html", (".html", ".htm"), html.render),
            Renderer("github", (), github.render),
            Renderer("sarif", (".sarif",), sarif.render),
        )
    }


FORMATS = ("terminal", "markdown", "json", "html", "github", "sarif")


def renderer(name: str) -> Renderer:
    return _load()[name]


def for_path(path: str) -> Renderer | None:
    lowered = path.lower()
    return next((r for r in _load().values() if lowered.endswith(r.extensions)), None)


def render(report: Report, fmt: str, **options) -> str:
    return renderer(fmt).render(report, **options)
