#!/usr/bin/env python3
"""Generate everything derived from proto/ (run through `make gen` / `make check-gen`).

    scripts/gen.py           regenerate and update the working tree
    scripts/gen.py --check   regenerate into a scratch directory and list what differs

Outputs, all checked in (gen owns the directories: files it does not produce are removed):
    proto/third_party/                google/api + google/rpc protos, copied from the
                                      googleapis-common-protos wheel (the BSR is unreachable)
    paygate/                          grpcio-tools bindings (`paygate.v1.*_pb2`) with
                                      mypy-protobuf stubs: the package that adapters/ and
                                      servers/ both import
    clients/python/paygate_client/    async betterproto2 client (a named package, so its
                                      generated google/* does not shadow google.protobuf)
    clients/typescript/src/gen/       TypeScript messages and service descriptors of the public
                                      API (protoc-gen-es v2, from node_modules), which
                                      @connectrpc/connect-web calls over gRPC-Web
    envoy/paygate.binpb               descriptor set for Envoy's gRPC-JSON transcoder
    docs/openapi.json                 Swagger 2.0 of the REST surface, post-processed
    clients/dashboard/src/roles.json  each role's summary and permissions, from
                                      core/access/roles.py: the dashboard shows what the
                                      API would allow (and the bundle is built from it)
    servers/roles/web/static/         the browser bundles (hosted checkout, checkout.js), built
                                      by clients/web/build.mjs (esbuild) from clients/web/ and
                                      the TypeScript client generated in the same run

Every input is discovered from proto/paygate/**, so a new proto file needs no edit here.
Everything is generated into a scratch directory first: the check mode shares all the
code with the real run, and a failed run never leaves the tree half-generated.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

ROOT = Path(__file__).resolve().parent.parent
PROTO = ROOT / "proto"
VENDOR = "proto/third_party"
STUBS = "paygate"
CLIENT = "clients/python/paygate_client"
TS_CLIENT = "clients/typescript/src/gen"
BUNDLES = "servers/roles/web/static"
DESCRIPTOR_SET = "envoy/paygate.binpb"
OPENAPI = "docs/openapi.json"
ROLES_JSON = "clients/dashboard/src/roles.json"
OWNED_DIRS = (VENDOR, STUBS, CLIENT, TS_CLIENT, BUNDLES)
OWNED_FILES = (DESCRIPTOR_SET, OPENAPI, ROLES_JSON)

# Vendored even though no paygate proto imports them: Envoy needs ErrorInfo and
# BadRequest in its descriptor set to render error details (or error bodies come back
# empty), and the OpenAPI error schema is google.rpc.Status.
ALWAYS_VENDORED = (
    "google/rpc/code.proto",
    "google/rpc/error_details.proto",
    "google/rpc/status.proto",
)

# What each documented HTTP error means here (API.md, "Errors"). Every operation can
# answer all of them, so they are added to every operation rather than guessed per method.
ERROR_RESPONSES = {
    "400": "INVALID_ARGUMENT (a field is missing or malformed: details carry BadRequest) "
    "or FAILED_PRECONDITION (e.g. CARD_DECLINED: details carry ErrorInfo).",
    "401": "UNAUTHENTICATED: no credential, or an unknown, revoked or expired one.",
    "403": "PERMISSION_DENIED: the credential's role lacks this method's permission.",
    "404": "NOT_FOUND: no such object for this merchant (objects of other merchants included).",
    "409": "ABORTED or ALREADY_EXISTS: e.g. a concurrent request with the same Idempotency-Key.",
    "405": "METHOD_NOT_ALLOWED: the path exists, not with this HTTP method (see Allow).",
    "413": "REQUEST_TOO_LARGE: the body is larger than the edge accepts (1 MiB).",
    "429": "RESOURCE_EXHAUSTED: rate limited; retry later with the same Idempotency-Key.",
    "431": "HEADERS_TOO_LARGE: the request line and headers exceed 16 KiB.",
    "500": "INTERNAL: logged on our side; retry with the same Idempotency-Key.",
    "503": "UNAVAILABLE: retry with the same Idempotency-Key.",
}

# How a caller authenticates (API.md, "Authentication"): one header for API keys and
# users' access tokens alike. Methods marked unauthenticated in (paygate.v1.access) say
# `security: []`.
SECURITY_DEFINITIONS = {
    "bearer": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "`Bearer <key>`: a secret key (sk_...), a publishable key (pk_...) "
        "where the method allows it, or a signed-in user's access token.",
    }
}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "type": "string",
    "maxLength": 255,
    "required": False,
    "description": "Makes a retry safe: the same key with the same request answers the "
    "first response again (docs/idempotency.md); kept 24 hours per merchant.",
}
PAYGATE_ACCOUNT = {
    "name": "Paygate-Account",
    "in": "header",
    "type": "string",
    "required": False,
    "description": "With a user's access token: the merchant account (acct_...) to act on.",
}
ERROR_DEFINITIONS = {
    "googleRpcStatus": {
        "type": "object",
        "description": "google.rpc.Status. `details` holds a google.rpc.ErrorInfo (`reason` "
        "such as CARD_DECLINED, `domain` paygate.dev, `metadata` such as `decline_code` and "
        "`param`) and, for bad input, a google.rpc.BadRequest naming the fields.",
        "properties": {
            "code": {"type": "integer", "format": "int32", "description": "google.rpc.Code value."},
            "message": {"type": "string", "description": "For humans; may change."},
            "details": {"type": "array", "items": {"$ref": "#/definitions/protobufAny"}},
        },
    },
    "protobufAny": {
        "type": "object",
        "description": "A message of the type named by `@type`, with that message's fields.",
        "properties": {"@type": {"type": "string"}},
        "additionalProperties": {},
    },
}

# RPCs answering google.api.HttpBody: Envoy sends the body as is, with its content type,
# not a JSON object. (service, method) -> the content type the servicer sets.
HTTP_BODY_CONTENT_TYPES = {
    ("SettlementService", "GetSettlementReport"): "text/csv",
    ("AuditLogService", "ExportAuditEvents"): "text/csv, application/json",
    ("CheckoutPageService", "GetCheckoutAsset"): "text/javascript, text/css",
    ("DashboardPageService", "GetDashboardAsset"): "text/javascript, text/css, application/json",
}

IMPORT_RE = re.compile(r'^\s*import\s+(?:public\s+|weak\s+)?"([^"]+)"\s*;', re.MULTILINE)


class GenError(Exception):
    pass


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="fail if checked-in outputs are stale")
    args = parser.parse_args()
    try:
        with tempfile.TemporaryDirectory(prefix="paygate-gen-") as tmp:
            out = Path(tmp) / "out"
            generate(out, scratch=Path(tmp))
            if args.check:
                problems = compare(out)
                if problems:
                    print("gen: generated files are out of date with proto/ (run `make gen`):")
                    for kind, name in problems:
                        print(f"  {kind:8} {name}")
                    return 1
            else:
                for kind, name in install(out):
                    print(f"gen: {kind:8} {name}".rstrip())
    except GenError as exc:
        print(f"gen: {exc}", file=sys.stderr)
        return 1
    return 0


def generate(out: Path, scratch: Path) -> None:
    protos = sorted(p.relative_to(PROTO).as_posix() for p in (PROTO / "paygate").rglob("*.proto"))
    if not protos:
        raise GenError("no .proto files under proto/paygate")
    # internal services (vault, admin, worker control) are never exposed over REST.
    public = [p for p in protos if "internal" not in Path(p).parts]
    vendor_dir = out / VENDOR
    vendor(protos, vendor_dir)
    protoc = Protoc(scratch, include=[PROTO, vendor_dir])

    stubs, client = out / STUBS, out / CLIENT
    for directory in (stubs, client, (out / DESCRIPTOR_SET).parent, (out / OPENAPI).parent):
        directory.mkdir(parents=True, exist_ok=True)  # protoc only writes into existing dirs
    # The repository root is the package root: proto/paygate/v1/x.proto -> paygate/v1/x_pb2.py.
    # Type stubs by mypy-protobuf (enum ValueTypes, typed service stubs), so that strict
    # mypy checks the code that uses the bindings.
    protoc.tool("protoc-gen-mypy", "pip install -e '.[dev]' (mypy-protobuf)")
    protoc.run(
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        *protos,
    )
    # grpcio-tools writes no __init__.py; regular packages keep setuptools' package
    # discovery and mypy simple.
    for module in list(stubs.rglob("*.py")):
        for directory in module.relative_to(out).parents[:-1]:
            (out / directory / "__init__.py").touch()
    (stubs / "py.typed").touch()  # PEP 561: the .pyi stubs are the bindings' types

    plugin = protoc.tool(
        "protoc-gen-python_betterproto2", "pip install -e '.[dev]' (betterproto2-compiler)"
    )
    protoc.tool("ruff", "pip install -e '.[dev]' (the betterproto2 plugin formats with ruff)")
    protoc.run(
        f"--plugin=protoc-gen-python_betterproto2={plugin}",
        f"--python_betterproto2_out={client}",
        "--python_betterproto2_opt=client_generation=async",
        *protos,
    )

    descriptor_set = out / DESCRIPTOR_SET
    # Envoy renders error details only for types in this set (DESIGN.md): add the error model.
    errors = ["google/rpc/error_details.proto", "google/rpc/status.proto"]
    protoc.run("--include_imports", f"--descriptor_set_out={descriptor_set}", *protos, *errors)

    openapi(protoc, public, descriptor_set, out / OPENAPI, scratch / "swagger")

    ts_client = out / TS_CLIENT
    ts_client.mkdir(parents=True)
    # The google/api and google/rpc files the public API imports: the generated code
    # imports their descriptors (google/protobuf comes with @bufbuild/protobuf).
    imported = sorted(p.relative_to(vendor_dir).as_posix() for p in vendor_dir.rglob("*.proto"))
    protoc.run(
        f"--plugin=protoc-gen-es={node_tool('protoc-gen-es')}",
        f"--es_out={ts_client}",
        "--es_opt=target=ts,import_extension=js",
        *public,
        *imported,
    )
    roles_json(out / ROLES_JSON)
    bundle(ts_client, out / BUNDLES, roles=out / ROLES_JSON)


def roles_json(dest: Path) -> None:
    """The role table the dashboard bundles: the one core/access/roles.py enforces."""
    sys.path.insert(0, str(ROOT))
    try:
        from core.access.roles import ROLE_PERMISSIONS, ROLE_SUMMARIES, Role
    finally:
        sys.path.remove(str(ROOT))
    table = {
        role.value: {"summary": ROLE_SUMMARIES[role], "permissions": sorted(ROLE_PERMISSIONS[role])}
        for role in Role
    }
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(table, indent=2) + "\n")


def node_tool(name: str) -> str:
    """A tool pinned in package-lock.json (`make tools` runs npm ci)."""
    path = ROOT / "node_modules" / ".bin" / name
    if not path.exists():
        raise GenError(f"{path.relative_to(ROOT)} not found: run `make tools` (npm ci)")
    return str(path)


def bundle(ts_client: Path, dest: Path, *, roles: Path) -> None:
    """The browser bundles, built against the TypeScript client and role table generated
    in this run (so --check sees a stale bundle as well as a stale client). Prints their
    sizes."""
    command = ["node", str(ROOT / "clients/web/build.mjs"), f"--outdir={dest}"]
    command += [f"--client={ts_client}", f"--roles={roles}"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise GenError(f"bundling failed:\n{result.stdout}{result.stderr.strip()}")
    print(result.stdout.rstrip())


def vendor(protos: list[str], dest: Path) -> None:
    """Copy the google/* protos that paygate imports (transitively) from the wheel.

    google/protobuf/* is not copied: protoc (grpcio-tools) and buf both ship it.
    """
    dist = metadata.distribution("googleapis-common-protos")
    pending = list(ALWAYS_VENDORED)
    for proto in protos:
        pending += IMPORT_RE.findall((PROTO / proto).read_text())
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen or name.startswith(("google/protobuf/", "paygate/")):
            continue
        seen.add(name)
        source = Path(str(dist.locate_file(name)))
        if not name.startswith("google/") or not source.is_file():
            raise GenError(
                f"cannot resolve import {name!r}: not under proto/ nor in googleapis-common-protos"
            )
        text = source.read_text()
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_text(text)
        pending += IMPORT_RE.findall(text)
    (dest / "README.md").write_text(
        f"Copied by scripts/gen.py from googleapis-common-protos {dist.version} (Apache-2.0).\n"
        "Do not edit: `make gen` rewrites this directory with what proto/paygate imports.\n"
    )


class Protoc:
    """grpcio-tools' protoc: pinned by the venv, so no system protoc is needed."""

    def __init__(self, scratch: Path, include: list[Path]) -> None:
        # protoc runs in an empty directory: the betterproto2 plugin formats its output
        # with `ruff` from the cwd, and the repo's [tool.ruff] settings (or a user's
        # ~/.config/ruff) must not change generated bytes. An empty ruff.toml pins the
        # defaults. It also catches the plugin's invalid-generated-code.py on failure.
        self.cwd = scratch / "cwd"
        self.cwd.mkdir(parents=True)
        (self.cwd / "ruff.toml").write_text("")
        self.include = [f"-I{path}" for path in include]
        bin_dir = str(Path(sys.executable).parent)
        self.env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}

    def tool(self, name: str, install_hint: str) -> str:
        found = shutil.which(name, path=self.env["PATH"])
        if not found:
            raise GenError(f"{name} not found; install it: {install_hint}")
        return found

    def run(self, *args: str) -> None:
        command = [sys.executable, "-m", "grpc_tools.protoc", *self.include, *args]
        result = subprocess.run(command, cwd=self.cwd, env=self.env, capture_output=True, text=True)
        if result.returncode != 0:
            raise GenError(f"protoc failed: {' '.join(args[:3])} ...\n{result.stderr.strip()}")


def openapi(
    protoc: Protoc, public: list[str], descriptor_set: Path, dest: Path, scratch: Path
) -> None:
    plugin = protoc.tool(
        "protoc-gen-swagger",
        "apt-get install -y golang-grpc-gateway (Debian/Ubuntu), or `make tools` as root",
    )
    scratch.mkdir()
    try:
        # One file per proto, merged below: protoc-gen-swagger 1.6's own allow_merge
        # drops the comments (summaries) of every service but one.
        protoc.run(f"--plugin=protoc-gen-swagger={plugin}", f"--swagger_out={scratch}", *public)
    except GenError as exc:
        hint = ""
        if "optional" in str(exc):
            hint = "\nprotoc-gen-swagger 1.6 cannot read proto3 `optional`: use a wrapper or oneof."
        if "inconsistent package names" in str(exc):
            hint = "\nAll files of a proto package need the same `option go_package`."
        raise GenError(f"{exc}{hint}") from None

    doc: dict[str, Any] = {
        "swagger": "2.0",
        "info": {
            "title": "paygate",
            "version": "v1",
            "description": "REST/JSON surface of paygate's public gRPC API, as Envoy's gRPC-JSON "
            "transcoder serves it. Generated from proto/paygate by scripts/gen.py: do not edit.",
        },
        "paths": {},
        "definitions": {},
    }
    for path in sorted(scratch.rglob("*.swagger.json")):
        part = json.loads(path.read_text())
        for key in ("schemes", "consumes", "produces"):
            doc[key] = part[key]
        for route, operations in part.get("paths", {}).items():
            for verb, operation in operations.items():
                if verb in doc["paths"].setdefault(route, {}):
                    raise GenError(f"OpenAPI: {verb.upper()} {route} is bound by two RPCs")
                doc["paths"][route][verb] = operation
        for name, schema in part.get("definitions", {}).items():
            if doc["definitions"].setdefault(name, schema) != schema:
                raise GenError(f"OpenAPI: two different schemas named {name}")

    streaming = server_streaming_methods(descriptor_set)
    access = method_access(descriptor_set)
    doc["securityDefinitions"] = SECURITY_DEFINITIONS
    doc["security"] = [{"bearer": []}]
    for route, operations in doc["paths"].items():
        for verb, operation in operations.items():
            rpc = (operation["tags"][0], operation["operationId"])
            if rpc not in streaming:  # an additional binding: the tool appends 2, 3, ...
                rpc = (rpc[0], rpc[1].rstrip("0123456789"))
            if rpc not in streaming:
                raise GenError(
                    f"OpenAPI: {verb.upper()} {route} ({rpc}) matches no RPC in the descriptor set"
                )
            rules = access[rpc]
            parameters = operation.setdefault("parameters", [])
            if rules.unauthenticated:
                operation["security"] = []
            else:
                parameters.append(PAYGATE_ACCOUNT)
            if rules.idempotent:
                parameters.append(IDEMPOTENCY_KEY)
            if streaming[rpc]:
                # Envoy answers a server stream as Server-Sent Events (API.md): each
                # event's data is one message; the tool describes it as one JSON object.
                # An error before the first event is an ordinary JSON error.
                operation["produces"] = ["text/event-stream", "application/json"]
                operation["responses"]["200"] = sse_response(operation["responses"]["200"])
            raw_http_bodies(operation, HTTP_BODY_CONTENT_TYPES.get(rpc, "text/html"))
            for code, description in ERROR_RESPONSES.items():
                operation["responses"][code] = {
                    "description": description,
                    "schema": {"$ref": "#/definitions/googleRpcStatus"},
                }
    for name, schema in ERROR_DEFINITIONS.items():
        doc["definitions"].setdefault(name, schema)

    dest.write_text(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def sse_response(ok: dict[str, Any]) -> dict[str, Any]:
    """A server stream's 200 is Server-Sent Events, not one JSON object: the schema says
    so (a list of events, as SSE clients read them) and names the message each event's
    data holds, which protoc-gen-swagger gave as the whole answer."""
    message = ok["schema"]["$ref"]
    name = message.rsplit("/", 1)[-1]
    return {
        "description": (
            f"A stream of Server-Sent Events; the data of each event is one {name} as "
            "JSON. The stream ends with a final message that says so."
        ),
        "schema": {
            "type": "array",
            "x-event-data": message,
            "items": {
                "type": "object",
                "required": ["data"],
                "properties": {
                    "event": {"type": "string"},
                    "data": {"type": "string", "description": f"One {name}, as JSON."},
                    "id": {"type": "string"},
                    "retry": {"type": "integer"},
                },
            },
        },
    }


HTTP_BODY = "#/definitions/apiHttpBody"


def raw_http_bodies(operation: dict[str, Any], content_type: str) -> None:
    """google.api.HttpBody is the raw HTTP body, not a JSON object (the checkout pages, the
    settlement report): the transcoder answers its data with its content_type, and hands a
    request body over as it came. protoc-gen-swagger describes both as the message."""
    ok = operation["responses"].get("200", {})
    if ok.get("schema", {}).get("$ref") == HTTP_BODY:
        # Errors are JSON too (once, when the document may also be JSON).
        operation["produces"] = list(dict.fromkeys([*content_type.split(", "), "application/json"]))
        if "application/json" in content_type.split(", "):
            # A JSON document (the audit export's array): Swagger 2.0 has one schema per
            # response whatever its media type, so none is claimed.
            ok["description"] = "The document itself (google.api.HttpBody): CSV or JSON."
            del ok["schema"]
        else:
            ok["description"] = "The document itself (google.api.HttpBody), not JSON."
            ok["schema"] = {"type": "string", "format": "binary"}
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "body" and parameter["schema"].get("$ref") == HTTP_BODY:
            operation["consumes"] = ["application/x-www-form-urlencoded"]
            parameter["schema"] = {"type": "string", "format": "binary"}


def method_access(descriptor_set: Path) -> dict[tuple[str, str], Any]:
    """(service name, method name) -> its (paygate.v1.access) option, read through a pool
    of the descriptor set itself (the option's message is defined in it)."""
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes()).file
    pool = descriptor_pool.DescriptorPool()
    for file in files:
        pool.Add(file)
    extension = pool.FindExtensionByName("paygate.v1.access")
    options = message_factory.GetMessageClass(
        pool.FindMessageTypeByName("google.protobuf.MethodOptions")
    )
    return {
        (service.name, method.name): options.FromString(
            method.options.SerializeToString()
        ).Extensions[extension]
        for file in files
        for service in file.service
        for method in service.method
    }


def server_streaming_methods(descriptor_set: Path) -> dict[tuple[str, str], bool]:
    """(service name, method name) -> server streaming, as protoc-gen-swagger tags them."""
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes()).file
    return {
        (service.name, method.name): method.server_streaming
        for file in files
        for service in file.service
        for method in service.method
    }


def walk(base: Path) -> set[str]:
    """Files under base, relative, without interpreter caches."""
    if base.is_file():
        return {""}
    if not base.is_dir():
        return set()
    return {
        p.relative_to(base).as_posix()
        for p in base.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def compare(out: Path) -> list[tuple[str, str]]:
    """(missing | stale | differs, path) for every checked-in output that is not as generated."""
    problems = []
    for owned in (*OWNED_DIRS, *OWNED_FILES):
        generated, checked_in = walk(out / owned), walk(ROOT / owned)
        for rel in sorted(generated | checked_in):
            name = f"{owned}/{rel}".rstrip("/")
            if rel not in checked_in:
                problems.append(("missing", name))
            elif rel not in generated:
                problems.append(("stale", name))
            elif not filecmp.cmp(out / owned / rel, ROOT / owned / rel, shallow=False):
                problems.append(("differs", name))
    return problems


INSTALLED = {"missing": "added", "differs": "updated", "stale": "removed"}


def install(out: Path) -> list[tuple[str, str]]:
    """Copy changed files into the tree and delete stale ones; untouched files keep their mtime."""
    changes = []
    for kind, name in compare(out):
        target = ROOT / name
        if kind == "stale":
            target.unlink()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(out / name, target)
        changes.append((INSTALLED[kind], name))
    for owned in OWNED_DIRS:  # drop directories emptied by removed protos
        for directory in sorted((ROOT / owned).rglob("*"), reverse=True):
            if (
                directory.is_dir()
                and directory.name != "__pycache__"
                and not any(directory.iterdir())
            ):
                directory.rmdir()
    return changes or [("up to date", "")]


if __name__ == "__main__":
    sys.exit(main())
