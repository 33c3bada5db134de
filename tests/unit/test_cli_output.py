"""Unit tests: what the command line prints lines up and is whole."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from mle_challenge.cli import cli, table_lines

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("group", [[], ["bento"], ["models"], ["data"]])
def test_help_gives_each_command_its_whole_first_sentence(group: list[str]) -> None:
    """Check that no command's description is cut off with "..." at 80 columns, and that a
    long one (classify's, promote's) is there in full, wrapped."""
    out = CliRunner().invoke(cli, [*group, "--help"], terminal_width=80).output
    commands = out[out.index("Commands:") :]
    assert "..." not in commands and "…" not in commands
    assert max(len(line) for line in commands.splitlines()) <= 80
    if not group:
        flat = " ".join(commands.split())
        assert "(a smoke test of a deployment;" in flat
        assert "promoting price_classifier_boston:<v> moves only that name's alias." in flat


def test_columns_line_up_after_a_long_model_name() -> None:
    """Check that a 60-character tag pushes the other columns right, on every row alike."""
    long_tag = "price_classifier_" + "x" * 30 + ":abcdefghijklm"
    header = ["tag", "created", "acc", "stage"]
    rows = [
        [long_tag, "2026-12-03 10:00", "0.612", "production"],
        ["price_classifier:a", "2026-12-03 09:00", "0.6", ""],
        ["price_classifier:b", "DAMAGED: no recorded content hash, and much more text"],
    ]
    lines = table_lines(header, rows, right=frozenset({2}))
    starts = {line.index("2026") for line in lines[1:3]}
    assert starts == {lines[0].index("created")} == {len(long_tag) + 2}
    assert lines[1].index("0.612") + 5 == lines[2].index("0.6") + 3  # numbers right-aligned
    note = "DAMAGED: no recorded content hash, and much more text"
    assert lines[3] == f"{'price_classifier:b':<{len(long_tag)}}  {note}"
    # The damaged note did not widen the created column: the columns after it stay close.
    assert lines[1] == f"{long_tag}  2026-12-03 10:00  0.612  production"
