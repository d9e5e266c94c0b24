"""Log hygiene: no card number and no credential reaches a log line
(core.shared.redaction.scrub: card numbers masked, API keys, tokens, Authorization values
and secret-named fields redacted), whichever logger wrote it: ours or a library's (grpcio
logs a request header it cannot decode, with the header's value, at ERROR).

Two pieces, use either or both:

- `RedactingFilter`, a logging.Filter for HANDLERS (a filter on a logger does not see
  records that propagate from child loggers). It rewrites the record in place: the
  message with its arguments, `exc_text`/`stack_info`, and the string values of a
  `fields` dict (the structured extras servers/runtime/logging_setup.py prints). A traceback is
  rendered and masked into `exc_text` and `exc_info` is dropped, because an exception
  message may quote its input (`invalid literal for int(): '4242 4242 ...'`) and a
  formatter that renders `exc_info` again would print it unmasked.
- `RedactingFormatter`, which wraps any formatter and masks its finished output: nothing
  the inner formatter adds (JSON fields, context variables, tracebacks) can slip past.

    handler.addFilter(RedactingFilter())
    handler.setFormatter(RedactingFormatter(JsonLines()))
"""

from __future__ import annotations

import logging
from typing import Any

from core.shared.redaction import scrub

_RENDER = logging.Formatter()


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: let the handler report it
            return True
        record.msg = scrub(message)
        record.args = None
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = _RENDER.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            record.fields = {key: _mask_value(value) for key, value in fields.items()}
        return True


class RedactingFormatter(logging.Formatter):
    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self._inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return scrub(self._inner.format(record))


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, int) and not isinstance(value, bool):
        masked = scrub(str(value))
        return value if masked == str(value) else masked
    return value
