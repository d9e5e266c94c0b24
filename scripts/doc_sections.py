"""The generated sections of a doc page: text between `<!-- BEGIN GENERATED: name -->` and
`<!-- END GENERATED: name -->`, rendered from the code (scripts/access_doc.py,
scripts/errors_doc.py; `make gen` rewrites them, `make check-gen` fails when stale)."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

_SECTION = re.compile(
    r"(<!-- BEGIN GENERATED: (?P<name>[a-z-]+) -->\n).*?(<!-- END GENERATED: (?P=name) -->)",
    re.DOTALL,
)

Sections = Mapping[str, Callable[[], str]]


def render(text: str, sections: Sections) -> str:
    def replace(match: re.Match[str]) -> str:
        return match.group(1) + sections[match.group("name")]() + match.group(3)

    return _SECTION.sub(replace, text)


def main(doc: Path, sections: Sections, argv: list[str]) -> int:
    """Rewrites `doc` in place, or with --check exits 1 when it is out of date."""
    tool, page = Path(argv[0]).stem, f"docs/{doc.name}"
    current = doc.read_text()
    rendered = render(current, sections)
    missing = [name for name in sections if f"BEGIN GENERATED: {name} " not in current]
    if missing:
        print(f"{tool}: {page} lacks the generated sections {missing}", file=sys.stderr)
        return 1
    if "--check" in argv[1:]:
        if rendered != current:
            print(f"{tool}: {page} is out of date: run `make gen`", file=sys.stderr)
            return 1
        return 0
    if rendered != current:
        doc.write_text(rendered)
        print(f"{tool}: updated {page}")
    return 0
