"""The thinc layers a packaged pipeline runs (as spacy_transformers/layers/): the
transformer model, its word-level alignment, the listener, layer pooling and the
wrapper that turns a torch fusion module (``layer_fusion.fusion``) into a thinc layer."""
