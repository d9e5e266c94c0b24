"""Every method a server serves, each with its handler wrapped once, at start-up.

A grpc.aio server hands every call's method to its interceptors, each a coroutine that
asks the next for the handler and wraps it (grpcio builds the chain anew per call), and,
for methods registered by the generated `add_XServicer_to_server`, keeps one pending
request per method in the loop that accepts calls (about 70 on the API, all waited on
again for each call). A `MethodTable` stands in for the server while the services, health
and reflection register (`add_registered_method_handlers`, as the generated code calls
it), then wraps each method's handler with the house's `HandlerWrapper`s (outermost
first: the call's log line, error translation and access gate of
servers/grpc/interceptors.py, the internal roles' service token and error translations)
and is given to the server as its one generic handler: a call costs a dictionary lookup.

Unknown methods get None, grpcio's UNIMPLEMENTED, as before. A server may still carry
real interceptors (the tracing one, when tracing is on); they run around the table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import grpc

from servers.grpc.context import RpcMethodHandler

if TYPE_CHECKING:  # generic in the type stubs only
    GenericRpcHandler = grpc.GenericRpcHandler[Any, Any]
else:
    GenericRpcHandler = grpc.GenericRpcHandler


class HandlerWrapper(Protocol):
    """A layer around the handler of every call, applied once per method."""

    def wrap(self, handler: RpcMethodHandler, method: str) -> RpcMethodHandler:
        """`handler` with this layer's behaviour around it (or `handler` itself when the
        layer does not apply to `method`)."""
        ...


class MethodTable(GenericRpcHandler):
    """The registry services are added to (as to a grpc.aio.Server), then, once `seal`ed
    with the wrappers, the server's only handler."""

    def __init__(self) -> None:
        self._registered: dict[str, RpcMethodHandler] = {}
        self._generic: dict[str, RpcMethodHandler] = {}
        self._handlers: dict[str, RpcMethodHandler] = {}
        self._sealed = False

    # What the generated add_XServicer_to_server calls on a server.
    def add_registered_method_handlers(
        self, service_name: str, method_handlers: Mapping[str, RpcMethodHandler]
    ) -> None:
        self._check_open()
        for name, handler in method_handlers.items():
            path = f"/{service_name}/{name}"
            if path in self._registered:
                raise ValueError(f"{path} is registered twice")
            self._registered[path] = handler

    def add_generic_rpc_handlers(self, handlers: Iterable[GenericRpcHandler]) -> None:
        """The generated code adds a generic handler of the very methods it also registers
        (grpc.method_handlers_generic_handler's, which holds them by path); a registered
        handler takes precedence, as on the server."""
        self._check_open()
        for handler in handlers:
            methods = getattr(handler, "_method_handlers", None)
            if not isinstance(methods, dict):
                raise TypeError(f"{handler!r}: only generated services go in a method table")
            self._generic.update(methods)

    def seal(self, wrappers: Sequence[HandlerWrapper] = ()) -> MethodTable:
        """Wraps every method's handler, `wrappers` outermost first; no more registering."""
        self._check_open()
        for path, handler in {**self._generic, **self._registered}.items():
            for wrapper in reversed(wrappers):
                handler = wrapper.wrap(handler, path)
            self._handlers[path] = handler
        self._sealed = True
        return self

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(self._handlers)

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> RpcMethodHandler | None:
        return self._handlers.get(handler_call_details.method)

    def _check_open(self) -> None:
        if self._sealed:
            raise RuntimeError("the method table is sealed: register before the server starts")
