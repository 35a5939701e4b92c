"""A spacy-transformers TransformerModel whose backward pass reaches every layer.

Stock spacy-transformers 1.4.0 backpropagates from ``last_hidden_state`` only
(``_convert_transformer_outputs``): gradients that a listener returns for lower
hidden states are silently dropped (``tests/layers/test_gradients.py::
test_stock_transformer_fails_the_gradient_check`` shows it). Here the
output conversion hands every hidden state that received a gradient to
``torch.autograd.backward``.

Gradient layout. A listener returns, per doc, a ``TransformerData`` whose
``model_output`` holds arrays in this fixed order:

    position 0:        d last_hidden_state          (n_spans, n_wordpieces, H)
    position 1 + l:    d hidden_states[l], l = 0..L (n_spans, n_wordpieces, H)

spacy-transformers' ``Transformer.update`` stacks them by position across docs
(``FullTransformerBatch.unsplit_by_doc``), so the order is all that survives. A
stock listener sends position 0 only, which this model also accepts.

Three settings of ``layer_fusion.TransformerModel.v2`` (all off in v1):

* ``learn_rate_scale``: the transformer's parameters are updated with the
  optimizer's learning rate times this factor, so one schedule can train a fresh
  head at 1e-3 and a pretrained encoder at 5e-5 (scale 0.05).
* ``split_words``: each spaCy token is handed to the Hugging Face tokenizer as a
  pre-split word (``is_split_into_words=True``) instead of tokenizing the span
  text. Wordpieces never straddle two tokens, and punctuation written without a
  space gets the same pieces as it would after a space; see ``word_alignment.py``.
* ``trim_offsets`` (only without ``split_words``): align the span text's wordpieces on
  offsets without their leading whitespace; see ``word_alignment.py``.

Both versions hold an ``AveragingHFShim``: with ``[training.optimizer] use_averages =
true`` spaCy then evaluates and saves the encoder's parameter averages too, not only
the head's (``averaging_shim.py``).
"""
import copy
import functools
import logging
import re
from pathlib import Path
from typing import Callable

from spacy_transformers.layers.transformer_model import TransformerModel
from spacy_transformers.layers.transformer_model import forward as stock_forward
from spacy_transformers.layers.transformer_model import init as stock_init
from thinc.api import Model
from thinc.types import ArgsKwargs
from transformers.file_utils import ModelOutput

from .averaging_shim import AveragingHFShim
from .word_alignment import forward_split_words, forward_text_trimmed, silence_false_length_warning

LAST_HIDDEN_STATE = "last_hidden_state"


def hidden_state_key(layer: int) -> str:
    """Key of hidden state ``layer`` (0 = embedding output) in a gradient ModelOutput."""
    return f"d_hidden_state_{layer}"


class FusionTransformerModel(TransformerModel):
    """``TransformerModel`` that always outputs all hidden states and backprops
    through each of them. Takes the same arguments as
    ``spacy-transformers.TransformerModel.v3``."""

    def __init__(
        self,
        name: str,
        get_spans: Callable,
        tokenizer_config: dict = {},
        transformer_config: dict = {},
        mixed_precision: bool = False,
        grad_scaler_config: dict = {},
        learn_rate_scale: float = 1.0,
        split_words: bool = False,
        trim_offsets: bool = False,
    ):
        if not learn_rate_scale > 0:
            raise ValueError(f"learn_rate_scale={learn_rate_scale} must be > 0 (freeze parameters instead)")
        check_span_coverage(get_spans)
        transformer_config = {**transformer_config, "output_hidden_states": True}
        super().__init__(
            name,
            get_spans,
            tokenizer_config,
            transformer_config,
            mixed_precision,
            grad_scaler_config,
        )
        self.layers[0].attrs["convert_outputs"] = convert_outputs_all_layers
        # Same shim, but use_params also reads the optimizer's (id, name) averages.
        stock = self.layers[0].shims[0]
        self.layers[0].shims[0] = AveragingHFShim(
            stock._hfmodel, mixed_precision=mixed_precision, grad_scaler_config=dict(grad_scaler_config)
        )
        self.init = init_checking_encoder
        tokenize_and_run = (
            forward_split_words if split_words else forward_text_trimmed if trim_offsets else stock_forward
        )
        self._func = functools.partial(forward_without_false_length_warning, tokenize_and_run)
        self.attrs["learn_rate_scale"] = learn_rate_scale
        self.attrs["init_args"] = dict(
            tokenizer_config=tokenizer_config,
            transformer_config=transformer_config,
            mixed_precision=mixed_precision,
            grad_scaler_config=grad_scaler_config,
            learn_rate_scale=learn_rate_scale,
            split_words=split_words,
            trim_offsets=trim_offsets,
        )

    def finish_update(self, optimizer) -> None:
        scale = self.attrs.get("learn_rate_scale", 1.0)
        super().finish_update(optimizer if scale == 1.0 else ScaledOptimizer(optimizer, scale))

    def copy(self):
        # Stock TransformerModel.copy drops the configs; keep them.
        copied = FusionTransformerModel(
            self.attrs["name"], self.attrs["get_spans"], **self.attrs["init_args"]
        )
        copied.dims = copy.deepcopy(self._dims)
        copied.layers[0] = copy.deepcopy(self.layers[0])
        copied.attrs["has_transformer"] = self.attrs["has_transformer"]
        return copied


def check_span_coverage(get_spans: Callable, n_tokens: int = 50) -> None:
    """Raise ValueError unless ``get_spans`` puts every token of a doc of ``n_tokens`` words
    (one sentence) in some span. A token in no span gets no encoder features, and is tagged
    anyway: ``strided_spans`` with ``stride`` > ``window`` skips tokens, and ``stride = 0``
    fails with a bare ZeroDivisionError on the first doc."""
    from spacy.tokens import Doc
    from spacy.vocab import Vocab

    doc = Doc(Vocab(), words=[f"w{i}" for i in range(n_tokens)],
              sent_starts=[True] + [False] * (n_tokens - 1))
    try:
        spans = get_spans([doc])[0]
    except Exception as err:  # noqa: BLE001 - any failure here is the setting's
        raise ValueError(f"get_spans fails on a doc of {n_tokens} words ({type(err).__name__}: {err}): "
                         "check its settings (window, stride)") from err
    covered = set()
    for span in spans:
        covered.update(range(span.start, span.end))
    missed = [i for i in range(n_tokens) if i not in covered]
    if missed:
        raise ValueError(f"get_spans leaves tokens {missed[:8]}{'...' if len(missed) > 8 else ''} of a doc of "
                         f"{n_tokens} words in no span, so they would get no encoder features: with "
                         "strided_spans, stride must not exceed window")


def forward_without_false_length_warning(tokenize_and_run: Callable, model: Model, docs, is_train: bool):
    """``tokenize_and_run``'s forward pass, without transformers' false "indexing errors"
    warning (``silence_false_length_warning``). The tokenizer is replaced when the model
    is initialized or loaded, so the flag is set on the one in use."""
    silence_false_length_warning(model.tokenizer)
    return tokenize_and_run(model, docs, is_train)


class ScaledOptimizer:
    """Calls a thinc optimizer with ``lr_scale`` fixed: the learning rate (and
    schedule) of the wrapped optimizer, times ``scale``. Adam moments and update
    counts stay in the wrapped optimizer, keyed as usual."""

    def __init__(self, optimizer, scale: float):
        self.optimizer = optimizer
        self.scale = scale

    def __call__(self, key, weights, gradient, *, lr_scale: float = 1.0):
        return self.optimizer(key, weights, gradient, lr_scale=lr_scale * self.scale)

    def __getattr__(self, name):
        return getattr(self.optimizer, name)


def names_a_folder_not_a_hub_id(name: str) -> bool:
    """Hugging Face hub ids are "name" or "org/name"; anything deeper, or rooted, or an
    existing path, is a local encoder folder. (Pipeline names follow another rule:
    ``loading.names_a_pipeline_folder``.)"""
    return name.count("/") >= 2 or name.startswith((".", "/", "~")) or Path(name).exists()


def init_checking_encoder(model: TransformerModel, X=None, Y=None):
    """Stock initialization, after a clear error for a missing local encoder folder."""
    name = str(model.attrs["name"])
    if not model.attrs["has_transformer"] and names_a_folder_not_a_hub_id(name) and not Path(name).expanduser().exists():
        raise FileNotFoundError(
            f"Encoder folder '{name}' not found: build the default encoder with "
            f"`spacy project run encoder` (or `layer-fusion encoder build {name}`), or set "
            "paths.encoder to a Hugging Face model folder or hub name"
        )
    # transformers warns that a model loaded without a pooler has its pooler "newly
    # initialized" and "should probably" be trained: the default encoder has none (its
    # source has none) and nothing here reads pooler_output, so that warning alone is dropped.
    hf_logger = logging.getLogger("transformers.modeling_utils")
    hf_logger.addFilter(not_only_a_new_pooler)
    try:
        return stock_init(model, X, Y)
    finally:
        hf_logger.removeFilter(not_only_a_new_pooler)


def not_only_a_new_pooler(record: logging.LogRecord) -> bool:
    """False for transformers' "Some weights of ... newly initialized: [...]" warning when
    every weight it lists is the pooler's (a logging filter: False drops the record)."""
    message = record.getMessage()
    if not message.startswith("Some weights of") or "newly initialized:" not in message:
        return True
    names = re.findall(r"'([^']+)'", message.split("newly initialized:", 1)[1].split("\n", 1)[0])
    return not names or not all(name.startswith("pooler.") for name in names)


def convert_outputs_all_layers(model: Model, inputs_outputs, is_train: bool):
    """HFWrapper output conversion: identity forward, all-layer backward."""
    _, model_output = inputs_outputs

    def backprop(d_model_output: ModelOutput) -> ArgsKwargs:
        grads = list(d_model_output.values())
        tensors = [model_output.last_hidden_state]
        if len(grads) > 1:
            hidden_states = model_output.hidden_states
            if hidden_states is None or len(grads) != 1 + len(hidden_states):
                raise ValueError(
                    f"Got gradients for {len(grads) - 1} hidden states, but the "
                    f"transformer returned {0 if hidden_states is None else len(hidden_states)}"
                )
            tensors.extend(hidden_states)
        # Frozen parameters (requires_grad=False everywhere) leave nothing to do.
        pairs = [(t, g) for t, g in zip(tensors, grads) if g is not None and t.requires_grad]
        return ArgsKwargs(
            args=(tuple(t for t, _ in pairs),),
            kwargs={"grad_tensors": tuple(g for _, g in pairs)},
        )

    return model_output, backprop
