"""wasabi's Printer, but a message is never wrapped."""
import datetime
import sys

from wasabi import Printer
from wasabi.util import color as paint
from wasabi.util import locale_escape

from .error_text import escape_line_breaks


class LinePrinter(Printer):
    """wasabi's Printer (``good``, ``info``, ``warn``, ``fail``, ``text``; its settings
    ``pretty``, ``no_print``, ``timestamp``, ``show_color``), but each message is one line:
    wasabi wraps every message at 80 columns, which cuts a long path in two (it cannot be
    copied) and breaks a log line that scripts read. Line breaks inside a message are written
    as ``\\n``."""

    def text(self, title="", text="", color=None, bg_color=None, icon=None, spaced=False, show=True,
             no_print=False, exits=None):
        if not show:
            return None
        line = escape_line_breaks(str(title))
        if self.pretty:
            if icon in self.icons:
                line = locale_escape(f"{self.icons[icon]} {line}").strip()
            if self.show_color and (color or bg_color):
                line = paint(line, fg=self.colors.get(color, color), bg=self.colors.get(bg_color, bg_color))
        if text:
            line = f"{line}\n{text}"
        if self.timestamp:
            line = f"{datetime.datetime.now():%Y-%m-%d %H:%M:%S}\t{line}"
        if spaced or exits is not None:
            line = f"\n{line}\n"
        if not (self.no_print or no_print):
            print(line)
        if exits is not None:
            sys.stdout.flush()
            sys.stderr.flush()
            if (self.no_print or no_print) and exits != 0:  # as wasabi: an error is never silent
                sys.exit(line)
            sys.exit(exits)
        return line
