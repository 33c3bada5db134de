"""The stages before training: raw listings → clean table → the split and its price edges."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import luigi

from mle_challenge.pipeline.cache import _Stage, code_version


class _DataParams(luigi.Task):
    listings = luigi.Parameter(description="Path, http(s):// or s3:// URL of raw listings.")
    data_hash = luigi.Parameter(description="sha256 of the listings file's content.")


class _SplitParams(_DataParams):
    split = luigi.DictParameter(description="The `split` section of params.yaml.")
    prices: Any = luigi.DictParameter(
        default={}, description="The `prices` section of params.yaml (default: NYC's edges)."
    )


class _CandidateParams(_SplitParams):
    candidate = luigi.Parameter(description="The candidate's name in params.yaml.")
    spec = luigi.DictParameter(description="The candidate's {kind, params}.")


class _SelectParams(_SplitParams):
    candidates = luigi.DictParameter(description="The `train.candidates` section.")
    select = luigi.DictParameter(description="The `select` section of params.yaml.")


class Preprocess(_Stage, _DataParams):
    """Raw listings → clean table (Parquet) and the drop report beside it."""

    stage, filename = "preprocess", "clean.parquet"

    def code(self) -> str:
        return code_version("data.clean", "data.airbnb_fields", "data.parse")

    def own_params(self) -> Any:
        return self.data_hash

    def requires(self) -> list[luigi.Task]:
        return []

    def produce(self) -> None:
        from mle_challenge.data import clean

        self._progress(10, f"reading {self.listings}")
        result = clean.load_clean(str(self.listings))
        written = self._written()
        report = {**result.report.__dict__, "source": str(self.listings)}
        (self.folder / "report.json").write_text(json.dumps(report, indent=2))
        with written.temporary_path() as tmp:
            result.table.to_parquet(tmp, index=False)
        self._progress(100, f"kept {result.report.rows_kept:,} of {result.report.rows_read:,}")


class Split(_Stage, _SplitParams):
    """Clean table → ids of the train, validation and test rows, and the price edges."""

    stage, filename = "split", "split.json"

    def requires(self) -> Preprocess:
        return self.clone(Preprocess)

    def code(self) -> str:
        return code_version("data.split", "data.airbnb_fields")  # price_category

    def own_params(self) -> Any:
        return {"split": dict(self.split), "prices": _price_rule(self.prices)}

    def produce(self) -> None:
        import pandas as pd

        from mle_challenge.data import split

        table = pd.read_parquet(self.input().path, columns=["id", "price"])
        rule = _price_rule(self.prices)
        ids, edges = split.split_and_label(table, rule, **dict(self.split))
        self._write_json(
            {
                **ids.to_dict(),
                "price_edges": list(edges),
                "price_rule": "quantile" if rule == "quantile" else "fixed",
            }
        )


def _price_rule(prices: Any) -> Any:
    from mle_challenge.config import PricesParams

    edges = PricesParams(**dict(prices)).edges
    return edges if edges == "quantile" else list(edges)


def _load_split(task: luigi.Task) -> tuple[Any, dict[str, list[int]]]:
    import pandas as pd

    from mle_challenge.data.airbnb_fields import price_category

    split_task = task.clone(Split)
    table = pd.read_parquet(split_task.input().path)
    parts = json.loads(Path(split_task.output().path).read_text())
    # The categories by this split's edges (cleaning cut them by NYC's).
    table["category"] = price_category(table["price"], parts["price_edges"])
    return table, parts


def _part(table: Any, ids: list[int]) -> tuple[Any, Any]:
    from mle_challenge.model import features

    rows = table[table["id"].isin(ids)]
    return features.to_model_input(rows), rows["category"].astype(str).reset_index(drop=True)
