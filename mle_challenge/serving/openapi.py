"""The OpenAPI document the service publishes at ``GET /docs.json`` (and Swagger UI shows at
``/``), as it really behaves, and the API schema BentoML's clients read at ``/schema.json``.

BentoML generates a document of its own from the API's types when it is asked for; those
types are the service's generic ones (the model is loaded only when a worker starts), and
five things in it are wrong for this service, so the published one starts from it and
corrects them:
- the request bodies are BentoML's rendering of generic types, which types the 0/1 flags as
  boolean only and drops ``null`` from the counts: they are replaced by the pydantic schemas of
  the served model the request guard validates with, and marked required;
- one schema per type, under our names: ``/classify`` refers to ``Listing`` and
  ``Classification`` as ``/classify_batch`` does, where BentoML inlined copies named
  ``ListingIODescriptor`` and ``ClassificationIODescriptor`` (a generated client got two
  classes for each);
- a 400 body's ``detail`` is a list of problems, not a string; 408, 413 and 415 are answered
  too;
- ``servers: [{url: .}]`` showed in Swagger UI as a "Servers" selector of one meaningless
  entry: without it, the document's own address is the server, as OpenAPI says;
- the title, version and description present BentoML (its README, badges from external sites):
  they present this API instead, with the served model's tag in the version.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, TypeAdapter

from mle_challenge import CATEGORIES, __version__
from mle_challenge.model.schema import Classification

ASGIApp = Any
_REF = "#/components/schemas/{model}"

_PROBLEM = {
    "type": "object",
    "required": ["loc", "msg", "type"],
    "properties": {
        "loc": {
            "type": "array",
            "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "description": "Where: the field, after the listing's index in a batch.",
        },
        "msg": {"type": "string", "description": "What is wrong, in words."},
        "type": {"type": "string", "description": "A stable code for the kind of problem."},
    },
}
_SCHEMAS = {
    "RequestError": {
        "type": "object",
        "title": "RequestError",
        "description": "The request was refused: every problem found, each naming its field.",
        "required": ["error", "detail"],
        "properties": {
            "error": {"type": "string", "description": "All problems in one sentence."},
            "detail": {"type": "array", "items": {"$ref": "#/components/schemas/Problem"}},
        },
    },
    "Problem": {"title": "Problem", **_PROBLEM},
    "Refusal": {
        "type": "object",
        "title": "Refusal",
        "description": "The request was refused before its content was read.",
        "required": ["error"],
        "properties": {"error": {"type": "string", "description": "Why, and what to send."}},
    },
}


def _error(description: str, schema: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{schema}"}
    return {"description": description, "content": {"application/json": {"schema": ref}}}


def _bins(edges: tuple[float, ...]) -> list[str]:
    """``(90, 180, 400)`` → "up to $90 a night", "up to $180", "up to $400", "above $400"."""
    shown = [f"${e:,.0f}" for e in edges]
    return [f"up to {shown[0]} a night", *(f"up to {e}" for e in shown[1:]), f"above {shown[-1]}"]


def _description(edges: tuple[float, ...], example: Mapping[str, Any], max_batch: int) -> str:
    bins = _bins(edges)
    categories = ", ".join(f"**{c}** ({b})" for c, b in zip(CATEGORIES, bins, strict=True))
    body = json.dumps(dict(example))
    return f"""Classifies an Airbnb listing into a nightly price category: {categories}.

**One listing:** `POST /classify` with the listing's fields as flat JSON; the answer is
`{{"id", "price_category", "probabilities", "model"}}`.

```
curl -X POST http://HOST/classify -H 'Content-Type: application/json' -d '{body}'
```

**Many:** `POST /classify_batch` with a JSON array of 1 to {max_batch} listings; the answers keep
their order.

**Errors:** 400 names every bad field (`[3].latitude` in a batch) and why; a field sent twice,
an unknown field, a category the model was not trained on or a value out of range are refused,
never guessed. 413: the body is too large. 415: the body is not `application/json`.

**Also:** `GET /model` tells which model answers, its metrics and lineage; `GET /metrics` is
Prometheus; `GET /readyz` says when the model is loaded."""


def _reference(kind: Any, schemas: dict[str, Any]) -> dict[str, Any]:
    """The schema of a body of type ``kind``, by reference to the models it holds, which are
    added to ``schemas``: a model is ``{"$ref": ...}`` itself, a list an array of one."""
    schema = TypeAdapter(kind).json_schema(ref_template=_REF)
    defs = schema.pop("$defs", {})
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        defs[kind.__name__] = schema
        schema = {"$ref": _REF.format(model=kind.__name__)}
    schemas.update(defs)
    return schema


def published(
    generated: Mapping[str, Any],
    *,
    listing: Any,
    batch: Any,
    model_tag: str,
    price_edges: tuple[float, ...],
    example: Mapping[str, Any],
    max_batch: int,
) -> dict[str, Any]:
    """BentoML's ``generated`` document with the corrections listed in the module docstring.

    ``listing`` and ``batch`` are the request types the guard validates with.
    """
    document = copy.deepcopy(dict(generated))
    # pydantic's schemas are JSON Schema 2020-12 (`"type": "null"`), which is OpenAPI 3.1.
    document["openapi"] = "3.1.0"
    document["info"] = {
        "title": "Airbnb listing price category",
        "version": f"{__version__} (model {model_tag})",
        "description": _description(price_edges, example, max_batch),
    }
    for tag in document.get("tags", []):
        if tag.get("name") == "Service APIs":
            tag["description"] = "Classify listings, and tell which model answers."
    document.pop("servers", None)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name in [n for n in schemas if n.endswith("IODescriptor")]:
        del schemas[name]  # BentoML's copies of Listing and Classification
    schemas.update(copy.deepcopy(_SCHEMAS))
    bodies = (("/classify", listing, dict(example)), ("/classify_batch", batch, [dict(example)]))
    for path, kind, sample in bodies:
        schema = _reference(kind, schemas)
        operation = document["paths"][path]["post"]
        operation["requestBody"] = {
            "required": True,
            # Swagger UI's "Try it out" starts from this example
            "content": {"application/json": {"schema": schema, "example": sample}},
        }
        # BentoML keys its responses by int; JSON keys are strings, so "400" would appear twice
        operation["responses"] = {str(k): v for k, v in operation["responses"].items()}
        answer = _reference(
            Classification if path == "/classify" else list[Classification], schemas
        )
        operation["responses"]["200"]["content"]["application/json"]["schema"] = answer
        operation["responses"].update(
            {
                "400": _error(
                    "A field is missing, unknown, sent twice or invalid.", "RequestError"
                ),
                "408": _error("The body did not arrive in time (MLE_BODY_TIMEOUT).", "Refusal"),
                "413": _error("The body is larger than the service accepts.", "Refusal"),
                "415": _error("The body is not application/json.", "Refusal"),
            }
        )
    return document


# BentoML's page hides the document's title, links to BentoML's GitHub and loads Google Tag
# Manager; this one is Swagger UI from BentoML's bundled copy and nothing from elsewhere.
DOCS_PAGE = b"""<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8">
    <title>Airbnb listing price category: API</title>
    <link rel="stylesheet" type="text/css" href="./static_content/swagger-ui.css" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="./static_content/swagger-ui-bundle.js" charset="UTF-8"></script>
    <script>
      window.onload = function () {
        window.ui = SwaggerUIBundle({
          url: "./docs.json", dom_id: "#swagger-ui", deepLinking: true,
          presets: [SwaggerUIBundle.presets.apis], layout: "BaseLayout",
        });
      };
    </script>
  </body>
</html>
"""


class PublishedDocs:
    """Answer ``GET /docs.json`` with the published document (built on first request),
    ``GET /`` with the page that shows it and ``GET /schema.json`` with the API schema for
    BentoML's clients."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        document: Callable[[], dict[str, Any]],
        version: Callable[[], str] = lambda: "",
        client_schema: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.app = app
        self.document = document
        self.client_schema = client_schema
        self.version = version  # the document is built again when this changes (a new model)
        self._body: tuple[str, bytes] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            return await self.app(scope, receive, send)
        if scope["path"] == "/docs.json":
            version = self.version()
            if self._body is None or self._body[0] != version:
                self._body = (version, json.dumps(self.document()).encode())
            return await _send(send, b"application/json", self._body[1])
        if scope["path"] == "/":
            return await _send(send, b"text/html; charset=utf-8", DOCS_PAGE)
        if scope["path"] == "/schema.json" and self.client_schema is not None:
            return await _send(send, b"application/json", json.dumps(self.client_schema()).encode())
        return await self.app(scope, receive, send)


async def _send(send: Any, content_type: bytes, body: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def client_schema(generated: Mapping[str, Any], parameters: Mapping[str, str]) -> dict[str, Any]:
    """BentoML's ``/schema.json`` for its own clients, with each API's one argument named.

    BentoML marks an API of one positional-only argument a "root input", and its clients then
    take only ``classify(listing)``: ``classify(**listing)`` and ``classify(listing=...)``
    failed with "Expected one positional argument for root input". Published instead as an
    API of named fields, its argument's name first: ``classify(**listing)`` sends the flat
    body, and ``classify(listing)`` or ``classify(listing=...)`` send ``{"listing": {...}}``,
    which the request guard unwraps. ``parameters`` maps an API's name to its argument's.
    """
    schema = copy.deepcopy(dict(generated))
    for route in schema.get("routes", []):
        name = parameters.get(route.get("name", ""))
        given = route.get("input", {})
        if name is None or not given.get("root_input"):
            continue
        value = {k: v for k, v in given.items() if k not in ("root_input", "title")}
        fields = dict(value.get("properties", {})) if value.get("type") == "object" else {}
        route["input"] = {
            "type": "object",
            "title": given.get("title", name),
            "properties": {name: value, **fields},
            "$defs": value.pop("$defs", {}),
        }
    return schema
