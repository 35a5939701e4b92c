"""``python -m layer_fusion.cli ...``: the ``layer-fusion`` command without its console
script on PATH (project.yml commands run with spaCy's own interpreter)."""
from . import main

main()
