"""An inferred project as the file ``mle-challenge init`` writes (YAML, a comment heading each
section, what the data showed beside each field) and as the summary it prints."""

from __future__ import annotations

from typing import Any

import yaml

from mle_challenge.project.infer import Inference

_HEADINGS = {
    "name": "The project's name: it names the registered model, its bento, image and labels.",
    "sources": "The input tables: a path relative to this file's folder, http(s):// or s3://.",
    "prepare": "How the sources become one table: none (the single source as it is) or "
    "module:function,\n# importable from the current folder or PYTHONPATH.",
    "id": "The id column: echoed in every answer, never a feature.",
    "target": "What the model answers.",
    "fields": "Every column the model reads, by kind (number, count, flag, category, latitude,"
    "\n# longitude). `learned` bounds and levels come from the training rows (docs/projects.md);"
    "\n# the comment says what this data showed. Remove a field, or change its kind, and re-run.",
    "serving": "How the model is served: POST /<route> and /<route>_batch, registered as "
    "model_name.",
    "split": "Held-out rows: test_size judges the final model, validation_size chooses it.",
    "train": "The candidates trained (the kinds of params.yaml); the best on validation wins.",
    "select": "How the candidates are compared.",
    "gate": "What a model must show on held-out rows to be promoted; add behavioural `cases`\n"
    "# and `directional` rules as in docs/projects.md.",
    "monitor": "When monitoring the served predictions raises an alarm.",
}


def _dump(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True, width=100)


def project_yaml(inference: Inference, header: str) -> str:
    """The project file: ``header`` (comment lines), then each section under its comment."""
    data = inference.project.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    data.setdefault("prepare", "none")
    for section in ("split", "select", "gate", "monitor"):  # written out, to be edited
        data[section] = getattr(inference.project, section).model_dump(mode="json", by_alias=True)
    parts = [header.rstrip("\n") + "\n"]
    for section in _HEADINGS:
        if section not in data:
            continue
        body = _fields(inference) if section == "fields" else _dump({section: data[section]})
        parts.append(f"# {_HEADINGS[section]}\n{body}")
    return "\n".join(parts)


def _fields(inference: Inference) -> str:
    lines = ["fields:"]
    for field in inference.fields:
        spec = field.spec.model_dump(mode="json", exclude_defaults=True)
        flow = yaml.safe_dump({"kind": field.spec.kind, **spec}, default_flow_style=True,
                              sort_keys=False, width=10_000).strip()  # fmt: skip
        key = yaml.safe_dump([field.name]).strip()[2:]  # `on` or `yes` quoted, as YAML needs
        lines.append(f"  {key}: {flow}  # seen: {field.seen}")
    return "\n".join(lines) + "\n"


def summary_lines(inference: Inference) -> list[str]:
    """What ``init`` inferred: the rows, the task and classes, the id, one line per field, and
    each column and row left out with the reason."""
    project = inference.project
    target = project.target
    lines = [
        f"rows: {inference.rows:,}",
        f"task: {target.task}: {inference.task_reason}",
    ]
    if target.classes is not None:
        lines.append(f"classes: {', '.join(target.classes)}")
    lines.append(f"id: {project.id} ({inference.id_reason})")
    width = max(len(f.name) for f in inference.fields)
    lines.append(f"fields ({len(inference.fields)}):")
    for field in inference.fields:
        learned = "bounds learned, " if getattr(field.spec, "bounds", None) == "learned" else ""
        nullable = ", nullable" if field.spec.nullable else ""
        lines.append(
            f"  {field.name:<{width}}  {field.spec.kind:<9}  {learned}seen {field.seen}{nullable}"
        )
    lines.append(f"ignored columns ({len(inference.ignored)}):")
    lines += [f"  {i.name}: {i.reason}" for i in inference.ignored]
    if inference.rows_without_target:
        lines.append(
            f"ignored rows: {inference.rows_without_target:,} with no {target.source_column} "
            "(nothing to learn from them)"
        )
    return lines
