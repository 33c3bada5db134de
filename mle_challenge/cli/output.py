"""How the commands print: the help's list of commands, whole; tables of aligned columns."""

from __future__ import annotations

import click


class WholeHelpGroup(click.Group):
    """A group that lists each command with its whole first sentence, wrapped to the terminal.

    click cuts a command's description to what fits on one line and ends it with "...": at 80
    columns half the commands' descriptions stopped mid-sentence."""

    group_class = type  # a subgroup made with .group() lists its commands alike (data, bento
    # and models are made apart, in their modules, and name this class themselves)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=_WHOLE_SENTENCE)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


_WHOLE_SENTENCE = 10_000  # characters: more than any first sentence, so none is cut


def table_lines(header: list[str], rows: list[list[str]], right: frozenset[int]) -> list[str]:
    """``header`` and ``rows`` as lines of columns as wide as their widest cell, two spaces
    apart (a fixed width put every cell after a long model name out of line); the columns
    numbered in ``right`` are right-aligned. A row shorter than the header ends in a note that
    runs on past the columns and does not widen them (a damaged model's problem)."""

    def sized(row: list[str]) -> list[str]:
        return row if len(row) == len(header) else row[:-1]

    widths = [
        max(len(row[i]) for row in [header, *map(sized, rows)] if i < len(row))
        for i in range(len(header))
    ]

    def line(cells: list[str]) -> str:
        padded = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(sized(cells))
        ]
        note = [] if len(cells) == len(header) else [cells[-1]]
        return "  ".join(padded + note).rstrip()

    return [line(header), *(line(row) for row in rows)]
