"""layer_fusion.length_order: wordpiece counts, the order they give, and padded batches."""
import spacy
from pipelines import noun_nlp, synthetic_examples, v2_nlp

from layer_fusion.length_order import length_order, padded_batches, transformer_tokenizer, wordpiece_lengths


def test_padded_batches_fill_each_batch_up_to_the_padded_size():
    # sorted: 1 (1), 3 (2), 4 (4), 0 (5), 2 (300); 3 x 4 = 12 > 10 starts a batch, 300 alone.
    assert padded_batches([5, 1, 300, 2, 4], 10) == [[1, 3], [4, 0], [2]]
    assert padded_batches([], 10) == []
    assert padded_batches([7, 7], 1) == [[0], [1]]  # an item over the limit is a batch alone


def test_padded_batches_count_every_row_an_item_gives():
    """A doc cut into several windows puts that many rows in the forward pass (hand-counted)."""
    # sorted: 1 (width 1, 3 rows) | 2 (width 3: 3 x 5 rows > 10) | 0 (width 5: 5 x 3 rows > 10)
    assert padded_batches([5, 1, 3], 10, rows=[1, 3, 2]) == [[1], [2], [0]]
    assert padded_batches([5, 1, 3], 10) == [[1, 2], [0]]  # one row each: 3 x 2 <= 10
    assert padded_batches([2, 2, 2], 8, rows=[2, 2, 2]) == [[0, 1], [2]]  # 2 x 4 fits, 2 x 6 does not
    assert padded_batches([4], 3, rows=[5]) == [[0]]  # over the limit alone


def test_lengths_are_wordpieces_of_words_tokenized_alone(tiny_xlmr):
    nlp = v2_nlp(tiny_xlmr)
    nlp.initialize(lambda: synthetic_examples(nlp, 5))
    tok = transformer_tokenizer(nlp)
    words = [["the", "cat"], ["antidisestablishmentarianism"], ["a", "b", "c"], []]
    expected = [sum(len(tok(w, add_special_tokens=False)["input_ids"]) for w in ws) for ws in words]
    assert wordpiece_lengths(tok, words) == expected
    assert expected[1] > 3  # so the orders below differ
    assert length_order(nlp, words) == sorted(range(4), key=expected.__getitem__)
    assert length_order(nlp, words) != sorted(range(4), key=lambda i: len(words[i]))


def test_without_a_transformer_the_order_is_by_words():
    nlp = noun_nlp()
    assert transformer_tokenizer(nlp) is None
    assert length_order(nlp, [["a", "b", "c"], ["a"], ["a", "b"]]) == [1, 2, 0]
    assert length_order(spacy.blank("xx"), [["x", "y"], []]) == [1, 0]  # no component at all
