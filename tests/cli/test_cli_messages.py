"""The commands' messages (``cli.common.msg``): one line each, whatever their length, with
wasabi's icons; colour codes only when asked for."""
from layer_fusion.cli.common import msg
from layer_fusion.line_printer import LinePrinter


def test_a_long_message_is_one_line_not_wrapped_at_80_columns(capsys, monkeypatch):
    monkeypatch.setattr(msg, "show_color", False)  # as off a terminal
    path = "/data/" + "/".join(["a-long-folder-name"] * 8) + "/cache"
    msg.good(f"Saved {path}: English dev 91.20")
    msg.warn(f"{path}: not a readable hidden-state cache; building it again")
    msg.text(f"DLFA epoch 3/60: dev 0.9120 {path}")
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"\u2714 Saved {path}: English dev 91.20",
                     f"\u26a0 {path}: not a readable hidden-state cache; building it again",
                     f"DLFA epoch 3/60: dev 0.9120 {path}"]


def test_icons_and_colour_follow_the_settings_and_line_breaks_are_escaped(capsys):
    printer = LinePrinter()
    printer.show_color = True
    printer.info("reused")
    printer.show_color = False
    printer.info("reused")
    printer.fail("a path\nwith a line break")
    printer.pretty = False  # WASABI_NO_PRETTY: no icons, no colour
    printer.show_color = True
    printer.good("plain")
    assert capsys.readouterr().out.splitlines() == [
        "\x1b[38;5;4m\u2139 reused\x1b[0m", "\u2139 reused", "\u2718 a path\\nwith a line break", "plain"]


def test_an_exit_of_a_printer_that_does_not_print_carries_the_message():
    """As wasabi's: a failure with ``exits`` is never silent, the message goes with SystemExit."""
    import pytest

    with pytest.raises(SystemExit) as stop:
        LinePrinter(no_print=True, pretty=False).fail("cannot write out.json", exits=1)
    assert stop.value.code.strip() == "cannot write out.json"
    with pytest.raises(SystemExit) as stop:
        LinePrinter(no_print=True).good("done", exits=0)
    assert stop.value.code == 0
