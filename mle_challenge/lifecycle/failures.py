"""Our errors raised inside a Luigi task reach the user as one line, not a traceback.

Luigi catches whatever a task raises, logs its traceback and reports the task as failed; the
CLI would then print that traceback and a summary, never the sentence that says what is wrong
with the data. So a task's :class:`~mle_challenge.errors.MleError` is (1) logged without its
traceback, (2) sent to the scheduler as a marked one-line explanation (``Task.on_failure``),
and (3) raised again, same type and message, by :func:`raise_task_error` once the build is over:
with several workers a task runs in a child process, and the scheduler is what both share.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from mle_challenge import errors
from mle_challenge.errors import MleError

_MARK = "mle_challenge.error:"
_LUIGI_LOGGER = "luigi-interface"


def explain(exception: BaseException) -> str | None:
    """The explanation a task sends its scheduler for ``exception``: our error's type and
    message, marked; None for anything else (Luigi's traceback then stays, as it should for
    a bug)."""
    if not isinstance(exception, MleError):
        return None
    return f"{_MARK}{json.dumps({'type': type(exception).__name__, 'message': str(exception)})}"


def from_explanation(expl: Any) -> MleError | None:
    """The error an :func:`explain` string stands for (the scheduler may hand it back
    JSON-encoded once more), else None."""
    if isinstance(expl, str) and expl.startswith('"'):
        try:
            expl = json.loads(expl)
        except ValueError:
            return None
    if not isinstance(expl, str) or not expl.startswith(_MARK):
        return None
    try:
        fields = json.loads(expl[len(_MARK) :])
        kind = getattr(errors, str(fields["type"]), MleError)
        message = str(fields["message"])
    except (ValueError, KeyError, TypeError):
        return None
    cls = kind if isinstance(kind, type) and issubclass(kind, MleError) else MleError
    return cls(message)


class _OurErrorsQuietly(logging.Filter):
    """Drops Luigi's "Worker failed" record whose exception is ours: its message is the
    answer, and is printed once, by the CLI."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], MleError))


_FILTER = _OurErrorsQuietly()


def quiet_our_errors() -> None:
    """Install the filter on Luigi's logger (idempotent; forked workers inherit it)."""
    logger = logging.getLogger(_LUIGI_LOGGER)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)


def raise_task_error(worker: Any) -> None:
    """Raise the first of our errors a failed task of ``worker``'s build reported, if any."""
    scheduler = getattr(worker, "_scheduler", None)
    if scheduler is None:
        return
    try:
        failed = scheduler.task_list("FAILED", "")
    except Exception:  # the summary still says which task failed
        return
    for task_id in sorted(failed or {}):
        error = from_explanation(scheduler.fetch_error(task_id).get("error"))
        if error is not None:
            raise error
