"""Serving that follows production (``MLE_FOLLOW_PRODUCTION=1``): each worker polls the
production alias (local, or the shared registry on S3) and, when it moves, pulls and verifies
the new model, loads it and answers one example with it in the background, then swaps it in.

The swap is one assignment of the :class:`Served` a request reads once at its start, so a
request is answered whole by the old model or whole by the new, and none waits for a load.
When the new model cannot serve this API (other input fields), the worker keeps the model it
has, logs why, counts the refusal, and tries that tag again only after production has moved
elsewhere. When it fails to load (the registry unreachable, say), the worker keeps its model and
tries again at the next poll. When the alias itself is refused (not signed with
``MLE_SIGNING_KEY`` in the shared registry, or naming a model whose gate failed without a
promotion signed as forced), the worker keeps its model, logs why once and counts every poll
(``follow{result="untrusted"}``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter

from mle_challenge.lifecycle.shared import UntrustedAlias
from mle_challenge.model.features import API_FEATURES
from mle_challenge.model.predictor import Predictor
from mle_challenge.model.schema import answers_for

logger = logging.getLogger("mle_challenge.follow")


@dataclass(frozen=True)
class Served:
    """What a worker answers with: the model and the request schema made from it."""

    predictor: Predictor
    listing: type[Any]  # the Listing model for this model's categories
    adapters: dict[str, TypeAdapter[Any]]  # the request guard's schemas, by path

    @property
    def tag(self) -> str:
        return self.predictor.tag


def served(predictor: Predictor, max_batch: int) -> Served:
    """``predictor`` with its request schemas."""
    from typing import Annotated

    from pydantic import Field

    listing = predictor.request_model()  # from the declaration the model was trained with
    batch = Annotated[list[listing], Field(min_length=1, max_length=max_batch)]  # type: ignore[valid-type]
    route = f"/{predictor.project.serving.route}"
    return Served(
        predictor=predictor,
        listing=listing,
        adapters={route: TypeAdapter(listing), f"{route}_batch": TypeAdapter(batch)},
    )


def unsafe_reason(predictor: Predictor) -> str | None:
    """Why ``predictor`` cannot take over this service's API, or None when it can."""
    schema = (predictor.info.metadata or {}).get("feature_schema") if predictor.info else None
    if schema is not None and list(schema) != list(API_FEATURES):
        return (
            f"its input fields {list(schema)} are not this service's {list(API_FEATURES)}: "
            "build and deploy a new bento for it"
        )
    return None


class Follower:
    """The polling thread of one worker."""

    def __init__(
        self,
        name: str,
        current: Served,
        *,
        interval: float,
        max_batch: int,
        swap: Callable[[Served], None],
        count: Callable[[str, str], None] = lambda result, detail: None,
        production: Callable[[str], str | None] | None = None,
    ) -> None:
        self.name = name
        self.current_tag = current.tag
        self.interval = interval
        self.max_batch = max_batch
        self.swap = swap
        self.count = count
        self._production = production or _production_tag
        self._refused: str | None = None
        self._untrusted: str | None = None  # why the alias was refused at the last poll
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="follow-production", daemon=True)

    def start(self) -> Follower:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def poll(self) -> str | None:
        """Look once; swap when production moved. Returns the tag swapped in, if any."""
        try:
            tag = self._production(self.name)
        except UntrustedAlias as exc:  # forged, unsigned, or a failed gate not forced
            if str(exc) != self._untrusted:  # say it once, count it at every poll
                logger.error("keeping %s: refusing the production alias: %s", self.current_tag, exc)
            self._untrusted = str(exc)
            self.count("untrusted", self.name)
            return None
        except Exception as exc:  # the alias unreadable (S3 down): keep serving, try later
            logger.warning("cannot read the production alias of %s: %s", self.name, exc)
            self.count("unreadable", type(exc).__name__)
            return None
        self._untrusted = None
        if tag is None or tag == self.current_tag or tag == self._refused:
            return None
        try:
            candidate = _load(tag)
            example = served(candidate, 1).listing.model_validate(candidate.example)
            answers_for(candidate, [example])
        except Exception as exc:  # pulled, verified and loaded, or not at all: try again later
            why = str(exc).strip() or type(exc).__name__
            logger.error("keeping %s: production moved to %s, but it could not be loaded: %s",
                         self.current_tag, tag, why)  # fmt: skip
            self.count("failed", tag)
            return None
        reason = unsafe_reason(candidate)
        if reason is not None:
            logger.error(
                "keeping %s: production moved to %s, but %s", self.current_tag, tag, reason
            )
            self._refused = tag
            self.count("refused", tag)
            return None
        self.swap(served(candidate, self.max_batch))
        logger.info("now serving %s (was %s)", tag, self.current_tag)
        self.current_tag, self._refused = tag, None
        self.count("swapped", tag)
        return tag


def _production_tag(name: str) -> str | None:
    from mle_challenge.lifecycle import production

    return production.followable_tag(name)


def _load(tag: str) -> Predictor:
    from mle_challenge.lifecycle import shared, store

    store.verified(shared.ensure_local(tag))
    return Predictor.load(tag)
