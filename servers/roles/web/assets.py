"""The browser bundles the web role serves: built by `make gen` (clients/web/build.mjs,
esbuild) into servers/roles/web/static/ and checked in, so serving them needs no Node.js.

Read once when the servicer starts; only the files listed here are served, whatever
else the folder holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"

# name -> content type. page.js and page.css are the hosted checkout's
# (/checkout/assets/...); checkout.js is the embeddable SDK (/js/v1/checkout.js).
SERVED = {
    "page.js": "text/javascript; charset=utf-8",
    "page.css": "text/css; charset=utf-8",
    "checkout.js": "text/javascript; charset=utf-8",
}

# Short-lived caching: the names carry no content hash, and a new release must reach
# browsers within minutes.
HEADERS = (
    ("cache-control", "public, max-age=300"),
    ("x-content-type-options", "nosniff"),
)


@dataclass(frozen=True)
class Asset:
    content_type: str
    data: bytes


def load(folder: Path = STATIC) -> dict[str, Asset]:
    """Every served asset, read now; a missing one means `make gen` was not run."""
    found = {}
    for name, content_type in SERVED.items():
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: run `make gen`")
        found[name] = Asset(content_type, path.read_bytes())
    return found
