"""layer_fusion.report_table's number formats, as every report and table writes them."""
import numpy

from layer_fusion.report_table import ci, pct


def test_pct_is_a_percentage_with_one_decimal_and_a_dash_for_none():
    assert pct(0.74704) == "74.7"
    assert pct(0.99951) == "100.0"
    assert pct(None) == "–"


def test_ci_takes_lists_tuples_and_numpy_arrays():
    assert ci([0.745, 0.7502]) == "[74.5, 75.0]"
    assert ci((0.1, 0.25)) == "[10.0, 25.0]"
    assert ci(numpy.array([0.683, 0.689])) == "[68.3, 68.9]"


def test_ci_is_a_dash_when_missing():
    assert ci(None) == "–"
    assert ci([]) == "–"
    assert ci([None, 0.5]) == "–"
