"""The input reader of ``layer-fusion tag`` (its decoding errors: tests/test_conllu.py and
tests/cli/test_cli_tag.py, which read through it)."""
import io

import pytest

from layer_fusion.input_lines import InputReadError, read_lines


def test_an_input_that_cannot_be_read_is_named_not_blamed_on_the_output(tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("one\n", encoding="utf-8")
    lines = read_lines([str(good), str(tmp_path)])  # the second "file" is a folder
    assert next(lines) == "one"
    with pytest.raises(InputReadError, match=rf"cannot read {tmp_path}: Is a directory"):
        next(lines)


def test_read_lines_is_lazy():
    consumed = []

    class Stream(io.RawIOBase):
        def __iter__(self):
            for i in range(10**6):
                consumed.append(i)
                yield b"line\n"

    lines = read_lines(["-"], stdin=Stream())
    assert next(lines) == "line"
    assert len(consumed) == 1
