"""An ``HFShim`` whose ``use_params`` reads the optimizer's parameter averages.

With ``[training.optimizer] use_averages = true``, thinc's optimizer keeps an
exponential moving average of every parameter it updates,

    avg_t = d_t * avg_{t-1} + (1 - d_t) * w_t,    d_t = min((1 + t) / (10 + t), 0.9999),

and spaCy evaluates and saves ``model-last`` inside ``nlp.use_params(optimizer.averages)``.
The optimizer keys a shim's parameters as ``(shim.id, name)`` tuples (that is how
``PyTorchShim.finish_update`` calls it), but ``PyTorchShim.use_params`` only reads
``"pytorch_{id}_{name}"`` strings. With the stock shim spaCy therefore evaluated and
saved an averaged head on top of the raw, un-averaged encoder. This shim swaps in the
averages it is keyed by, in place (parameters that were never updated, such as frozen
layers, keep their values), and restores the trained weights on exit.

Its ``predict`` (inference) runs a batch over the component's bound in passes
(``inference_passes.py``) while the ``fusion_transformer`` component predicts, which sets the
bound and the hidden states its listeners read for the length of the call (``PASSES``).
It leaves the encoder in evaluation mode: thinc's ``PyTorchShim.predict`` switches it to
training mode on its way out, so with two threads tagging with one pipeline, one thread's
forward pass ran in training mode (dropout on) when the other's ended first. Training
switches it back itself (``begin_update``).
"""
import contextlib

import torch
from spacy_transformers.layers.hf_shim import HFShim
from thinc.api import ArgsKwargs, xp2torch

from .inference_passes import PASSES, predict_in_passes, predict_packed


class AveragingHFShim(HFShim):
    def predict(self, inputs: ArgsKwargs):
        """Stock, or in passes (``predict_in_passes``) for a batch of keyword inputs over the
        bound that ``FusionTransformer.predict`` set for its call (``PASSES``): packed
        (``predict_packed``) when the forward building the batch asked for it."""
        settings = PASSES.get()
        ids = inputs.kwargs.get("input_ids")
        if settings is None or inputs.args or not torch.is_tensor(ids) or ids.dim() != 2 \
                or ids.numel() <= settings.max_items:
            return self._inference(inputs.args, inputs.kwargs)
        run = lambda kwargs: self._inference((), kwargs)  # noqa: E731
        if settings.pack:
            output, settings.packed_lengths = predict_packed(run, inputs.kwargs, settings.max_items, settings.keep)
            return output
        return predict_in_passes(run, inputs.kwargs, settings.max_items, settings.keep)

    def _inference(self, args, kwargs):
        """The encoder's output, as ``PyTorchShim.predict`` gives it, the encoder left in
        evaluation mode (module docstring)."""
        self._model.eval()
        with torch.no_grad(), torch.autocast(device_type="cuda", enabled=self._mixed_precision):
            return self._model(*args, **kwargs)

    @contextlib.contextmanager
    def use_params(self, params):
        module = self._model
        named = dict(module.named_parameters()) if module is not None else {}
        averaged = {name: params[(self.id, name)] for name in named if (self.id, name) in params}
        if not averaged:
            with super().use_params(params):
                yield
            return
        backup = {}
        with torch.no_grad():
            for name, average in averaged.items():
                param = named[name]
                backup[name] = param.detach().clone()
                param.copy_(xp2torch(average, device=param.device))
        try:
            yield
        finally:
            with torch.no_grad():
                for name, trained in backup.items():
                    named[name].copy_(trained)
