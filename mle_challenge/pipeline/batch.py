"""Batch prediction as a Luigi task."""

from __future__ import annotations

import luigi

from mle_challenge.config import MODEL_NAME


class BatchPredict(luigi.Task):
    """Listings (raw or API-shaped; path, HTTP or S3) → predictions with the given model.

    ``luigi --module mle_challenge.pipeline BatchPredict --input SOURCE --output-path PATH
    [--model TAG | --model-name NAME] --local-scheduler`` (Luigi keeps the name ``output`` for
    the method that says where a task writes). The output appears only once complete.
    """

    # No upstream tasks, so nothing needs Task.input(); the flag stays --input.
    input = luigi.Parameter(  # type: ignore[assignment]
        description="Listings to predict: CSV or Parquet, path or URL."
    )
    output_path = luigi.Parameter(description="Predictions: .csv, .csv.gz or .parquet.")
    model = luigi.Parameter(default="", description="Model tag (default: production).")
    model_name = luigi.Parameter(
        default=MODEL_NAME, description="Whose production model, without `model`."
    )
    chunk_rows = luigi.IntParameter(default=100_000)

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(str(self.output_path))

    def run(self) -> None:
        from mle_challenge.batch.predict import predict_file

        self.set_status_message(f"predicting {self.input}")  # type: ignore[misc]
        report = predict_file(
            str(self.input),
            str(self.output_path),
            str(self.model) or None,
            int(self.chunk_rows),
            model_name=str(self.model_name),
        )
        self.set_status_message(report.format())  # type: ignore[misc]
