"""Column alignment with the semantics of Go's text/tabwriter, which kubectl prints through.

Text is cut into cells by tabs; a cell belongs to a column block made of the consecutive
lines that have a tab-terminated cell in that column. The last cell of a line is never
padded, and a line without a tab ends every block: this is why kubectl's `describe`
aligns each section on its own and why a blank line separates two `get` tables.
"""

from __future__ import annotations


class TabWriter:
    """Buffers lines until `flush()`; then returns them with aligned columns."""

    def __init__(self, minwidth: int = 0, padding: int = 1, remember_widths: bool = False) -> None:
        self.minwidth = minwidth
        self.padding = padding
        # kubectl's table printer remembers column widths across flushes, so rows printed
        # later by `get -w` line up with the header printed at the start.
        self.remember_widths = remember_widths
        self._remembered: list[int] = []
        self._pending = ""
        self._lines: list[list[str]] = []

    def write(self, text: str) -> None:
        self._pending += text
        *complete, self._pending = self._pending.split("\n")
        self._lines.extend(line.split("\t") for line in complete)

    def forget_widths(self) -> None:
        self._remembered = []

    def flush(self) -> str:
        if self._pending:
            self._lines.append(self._pending.split("\t"))
            self._pending = ""
            trailing_newline = False
        else:
            trailing_newline = True
        out: list[str] = []
        self._format(out, 0, len(self._lines), [])
        self._lines = []
        text = "".join(out)
        return text if trailing_newline else text[:-1]

    def _format(self, out: list[str], line0: int, line1: int, widths: list[int]) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(self._lines[this]) - 1:
                this += 1
                continue
            # A block of lines with a cell in this column starts here.
            self._write_lines(out, line0, this, widths)
            line0 = this
            width = self.minwidth
            while this < line1 and column < len(self._lines[this]) - 1:
                width = max(width, len(self._lines[this][column]) + self.padding)
                this += 1
            if self.remember_widths:
                if column < len(self._remembered):
                    width = max(width, self._remembered[column])
                    self._remembered[column] = width
                else:
                    self._remembered.extend([0] * (column - len(self._remembered)))
                    self._remembered.append(width)
            widths.append(width)
            self._format(out, line0, this, widths)
            widths.pop()
            line0 = this
        self._write_lines(out, line0, line1, widths)

    def _write_lines(self, out: list[str], line0: int, line1: int, widths: list[int]) -> None:
        for cells in self._lines[line0:line1]:
            for j, cell in enumerate(cells):
                out.append(cell)
                if j < len(widths) and j < len(cells) - 1:
                    out.append(" " * (widths[j] - len(cell)))
            out.append("\n")


def align(text: str, minwidth: int = 0, padding: int = 1) -> str:
    """One-shot alignment of tab-separated text."""
    w = TabWriter(minwidth, padding)
    w.write(text)
    return w.flush()
