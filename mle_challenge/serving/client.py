"""A small client for a running price-category service, usable from notebooks.

>>> client = PriceClient("http://127.0.0.1:3000")
>>> client.classify({"id": 1001, "accommodates": 4, "room_type": "Entire home/apt", ...})
{'id': 1001, 'price_category': 'High', 'probabilities': {...}, 'model': 'price_classifier:...'}

Connection errors, read timeouts and 502/503/504 answers are retried with backoff; 4xx answers
are not, and raise :class:`ClientError` with the service's message. Each call carries an
``Idempotency-Key``, the same on its retries, so that the service's prediction log keeps one
row per listing however many times the request was sent.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from mle_challenge.errors import MleError


class ClientError(MleError):
    """The service refused a request or could not be reached; the message says which."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class PriceClient:
    """``classify`` one listing, ``classify_batch`` many (sent in slices), ``model()`` info."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.3,
        batch_size: int = 500,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.batch_size = batch_size
        self.session = requests.Session()
        retry = Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            backoff_factor=backoff,
            status_forcelist=(502, 503, 504),
            allowed_methods=frozenset({"GET", "POST"}),
            raise_on_status=False,
        )
        self.session.mount("http://", HTTPAdapter(max_retries=retry))
        self.session.mount("https://", HTTPAdapter(max_retries=retry))

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            # One key per call: urllib3's retries resend these headers, so a retry of a
            # request whose answer was lost (a timeout) is logged once.
            headers = {"Idempotency-Key": uuid.uuid4().hex} if method == "POST" else None
            answer = self.session.request(
                method, f"{self.url}{path}", json=body, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise ClientError(f"cannot reach {self.url}{path}: {exc}") from exc
        if answer.status_code >= 400:
            try:
                detail = answer.json().get("error", answer.text)
            except ValueError:
                detail = answer.text[:300]
            raise ClientError(
                f"{method} {path} answered {answer.status_code}: {detail}", answer.status_code
            )
        return answer.json()

    def classify(self, listing: Mapping[str, Any]) -> dict[str, Any]:
        return dict(self._call("POST", "/classify", dict(listing)))

    def classify_batch(self, listings: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        rows = [dict(x) for x in listings]
        answers: list[dict[str, Any]] = []
        for start in range(0, len(rows), self.batch_size):
            answers.extend(
                self._call("POST", "/classify_batch", rows[start : start + self.batch_size])
            )
        return answers

    def model(self) -> dict[str, Any]:
        return dict(self._call("GET", "/model"))

    def ready(self) -> bool:
        try:
            return self.session.get(f"{self.url}/readyz", timeout=self.timeout).status_code == 200
        except requests.RequestException:
            return False


def listings_from_file(
    source: str, sample: int | None = None, seed: int = 0
) -> list[dict[str, Any]]:
    """API-shaped listings from raw Inside Airbnb listings, a CSV/Parquet of API rows, or a
    JSON file (one listing or a list); ``sample`` picks that many at random."""
    import json

    import pandas as pd

    from mle_challenge.data.validate import typed
    from mle_challenge.project import airbnb

    if source.endswith(".json"):
        from pathlib import Path

        loaded = json.loads(Path(source).read_text())
        rows: Sequence[dict[str, Any]] = loaded if isinstance(loaded, list) else [loaded]
        frame = pd.DataFrame(rows)
    else:
        from mle_challenge.batch.predict import api_chunks

        parts = [chunk.rows for chunk in api_chunks(source, 200_000)]
        frame = typed(airbnb(), pd.concat(parts, ignore_index=True))
    if sample is not None:
        frame = frame.sample(min(sample, len(frame)), random_state=seed)
    return [
        {k: (None if pd.isna(v) else (v.item() if hasattr(v, "item") else v)) for k, v in r.items()}
        for r in frame.to_dict("records")
    ]
