"""The browser bundles the web role serves: built by `make gen` (clients/web/build.mjs,
esbuild) into servers/roles/web/static/ and checked in, so serving them needs no Node.js.

Read once when the servicer starts; only the files listed here are served, whatever
else the folder holds. The dashboard's assets (DASHBOARD) are a namespace of their own:
its API reference reads docs/openapi.json, which `make gen` writes, as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"
REPO_ROOT = Path(__file__).resolve().parents[3]

# name -> content type. page.js and page.css are the hosted checkout's
# (/checkout/assets/...); checkout.js is the embeddable SDK (/js/v1/checkout.js).
SERVED = {
    "page.js": "text/javascript; charset=utf-8",
    "page.css": "text/css; charset=utf-8",
    "checkout.js": "text/javascript; charset=utf-8",
}

# name -> (file, content type): the dashboard's (/dashboard/assets/...).
DASHBOARD = {
    "app.js": (STATIC / "dashboard" / "app.js", "text/javascript; charset=utf-8"),
    "app.css": (STATIC / "dashboard" / "app.css", "text/css; charset=utf-8"),
    "openapi.json": (REPO_ROOT / "docs" / "openapi.json", "application/json"),
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
    """Every served asset of the checkout, read now."""
    return _read({name: (folder / name, kind) for name, kind in SERVED.items()})


def load_dashboard() -> dict[str, Asset]:
    """Every served asset of the dashboard, read now."""
    return _read(DASHBOARD)


def _read(files: dict[str, tuple[Path, str]]) -> dict[str, Asset]:
    """A missing file means `make gen` was not run."""
    found = {}
    for name, (path, content_type) in files.items():
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: run `make gen`")
        found[name] = Asset(content_type, path.read_bytes())
    return found
