"""Convert UD CoNLL-U files to spaCy DocBins for a UPOS morphologizer.

Writes OUTPUT_DIR/train.spacy and OUTPUT_DIR/dev.spacy (English EWT train/dev by default;
several --train-file options are concatenated, for multi-source training) and
OUTPUT_DIR/test/<key>.spacy for every evaluation set in the targets config. Each Doc holds
the gold syntactic words (multiword tokens split as in the treebank, NFC-normalized), their
spaces (SpaceAfter=No) and UPOS in token.pos; tag_ and morph stay empty. doc.user_data keeps
sent_id, doc_id, treebank, and genre where the treebank records one (GUM: # meta::genre or
the sent_id; EWT: the subcorpus prefix of its document ids). Every file is written to
a temporary name and renamed, so nothing is left half-written.

With --syntax (the intermediate tasks), train.spacy and dev.spacy also carry the
dependency tree (token.head, token.dep_) and the FEATS string in token.tag_: a tagger
over FEATS strings is the morphological-features task, while token.morph stays empty,
so the UPOS morphologizer learns the same 17 labels as without --syntax.

    python scripts/convert_ud.py ../shared/ud corpus [--targets configs/targets.cfg] [--max-sentences N]
    python scripts/convert_ud.py ../shared/ud corpus/syntax --syntax --skip-targets
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Iterable, List, Optional, Tuple

import typer
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab
from tqdm import tqdm
from wasabi import msg

from layer_fusion.atomic_write import unwritable_reason, write_bytes_atomic
from layer_fusion.conllu import ConlluError, Sentence, read_conllu
from layer_fusion.targets import TargetsError, load_targets

DEFAULT_TARGETS = Path(__file__).resolve().parents[1] / "configs" / "targets.cfg"
app = typer.Typer(add_completion=False)


def sentence_to_doc(vocab: Vocab, sentence: Sentence, treebank: str, syntax: bool = False) -> Doc:
    """A Doc of the sentence's words with UPOS; with ``syntax``, also heads, relations and
    FEATS (in tag_, "_" for none). Raises ValueError naming the sentence if a tree is missing."""
    extra = {}
    if syntax:
        if any(h is None for h in sentence.heads) or not all(sentence.deprels):
            raise ValueError(f"sentence {sentence.sent_id} (line {sentence.line}): no complete dependency tree")
        extra = {
            "heads": [h - 1 if h else i for i, h in enumerate(sentence.heads)],
            "deps": ["ROOT" if h == 0 else rel for h, rel in zip(sentence.heads, sentence.deprels)],
            "tags": [f or "_" for f in sentence.feats],
        }
    doc = sentence.to_doc(vocab, with_upos=True, **extra)
    doc.user_data["sent_id"] = sentence.sent_id
    doc.user_data["treebank"] = treebank
    if sentence.doc_id:
        doc.user_data["doc_id"] = sentence.doc_id
    genre = sentence.ewt_genre() if treebank == "UD_English-EWT" else sentence.genre
    if genre:
        doc.user_data["genre"] = genre
    return doc


def convert_file(
    path: Path, output: Path, treebank: str, vocab: Vocab, max_sentences: Optional[int] = None,
    syntax: bool = False,
) -> dict:
    """Convert one CoNLL-U file to a DocBin at ``output`` (atomically). Returns counts."""
    data, counts = docbin_bytes([(path, treebank)], vocab, max_sentences, syntax)
    write_bytes_atomic(output, data)
    return counts


def docbin_bytes(
    sources: List[Tuple[Path, str]], vocab: Vocab, max_sentences: Optional[int] = None, syntax: bool = False,
) -> Tuple[bytes, dict]:
    """Concatenate CoNLL-U files (path, treebank) into one serialized DocBin;
    ``max_sentences`` caps each file. Returns it and its counts. A malformed file raises
    SystemExit with a one-line message naming the file (and line)."""
    doc_bin = DocBin(store_user_data=True)
    sentences = words = 0
    for path, treebank in sources:
        try:
            for sentence in _take(read_conllu(path), max_sentences):
                try:
                    doc_bin.add(sentence_to_doc(vocab, sentence, treebank, syntax))
                except ValueError as err:
                    raise SystemExit(f"{path}: {err}")
                sentences += 1
                words += len(sentence)
        except ConlluError as err:
            raise SystemExit(str(err))
    return doc_bin.to_bytes(), {"sentences": sentences, "words": words}


def _take(items: Iterable, n: Optional[int]):
    for i, item in enumerate(items):
        if n is not None and i >= n:
            return
        yield item


@app.command()
def main(
    ud_dir: Path = typer.Argument(..., help="Folder with the UD_* treebank folders", exists=True, file_okay=False),
    output_dir: Path = typer.Argument(..., help="Where train.spacy, dev.spacy and test/ go"),
    targets: Path = typer.Option(DEFAULT_TARGETS, "--targets", help="Evaluation sets (test/*.spacy)"),
    max_sentences: Optional[int] = typer.Option(
        None, "--max-sentences", min=1, help="Cap on sentences taken from each input file (smoke runs)"
    ),
    train_files: List[str] = typer.Option(
        ["UD_English-EWT/en_ewt-ud-train.conllu"], "--train-file",
        help="Training CoNLL-U, relative to UD_DIR; repeat to concatenate several (multi-source)",
    ),
    skip_targets: bool = typer.Option(False, "--skip-targets", help="Write train.spacy and dev.spacy only"),
    dev_file: str = typer.Option(
        "UD_English-EWT/en_ewt-ud-dev.conllu", "--dev-file", help="Dev CoNLL-U, relative to UD_DIR"
    ),
    syntax: bool = typer.Option(
        False, "--syntax", help="train/dev also carry heads, relations and FEATS (in tag_): the intermediate tasks"
    ),
):
    """Write train.spacy, dev.spacy (English) and test/<key>.spacy (targets) from UD CoNLL-U."""
    start = time.perf_counter()
    try:
        spec = load_targets(targets)
    except TargetsError as err:
        msg.fail(str(err), exits=1)
    vocab = Vocab()
    # Inputs are checked first, and every output is written only once all are converted:
    # a bad file leaves the corpus folder as it was, not half new.
    for name in [*train_files, dev_file]:
        if not (ud_dir / name).is_file():
            msg.fail(f"{'dev' if name == dev_file else 'train'}: {ud_dir / name} not found", exits=1)
    if unwritable_reason(output_dir, folder=True):
        msg.fail(f"cannot write to {output_dir}: {unwritable_reason(output_dir, folder=True)}", exits=1)
    train_data, train_counts = docbin_bytes(
        [(ud_dir / name, Path(name).parts[0]) for name in train_files], vocab, max_sentences, syntax,
    )
    outputs = [(output_dir / "train.spacy", train_data)]
    jobs = [
        ("dev", ud_dir / dev_file, output_dir / "dev.spacy", Path(dev_file).parts[0]),
    ]
    jobs += [
        (t.key, t.path(ud_dir), output_dir / "test" / f"{t.key}.spacy", t.treebank)
        for t in spec.treebanks.values()
        if not skip_targets
    ]
    rows = [("train", "+".join(Path(n).parts[0] for n in train_files), train_counts["sentences"],
             train_counts["words"], str(output_dir / "train.spacy"))]
    missing = []
    for name, src, dst, treebank in tqdm(jobs, desc="treebanks", unit="file"):
        if not src.is_file():
            missing.append((name, str(src)))
            continue
        data, counts = docbin_bytes([(src, treebank)], vocab, max_sentences, syntax and name == "dev")
        outputs.append((dst, data))
        rows.append((name, treebank, counts["sentences"], counts["words"], str(dst)))
    for dst, data in outputs:
        write_bytes_atomic(dst, data)
    msg.table(rows, header=("set", "treebank", "sentences", "words", "output"), divider=True,
              aligns=("l", "l", "r", "r", "l"))
    for name, src in missing:
        msg.warn(f"{name}: test file not found, skipped: {src}")
    msg.good(
        f"Wrote {len(rows)} DocBins ({sum(r[2] for r in rows):,} sentences, {sum(r[3] for r in rows):,} words) "
        f"to {output_dir} in {time.perf_counter() - start:.1f}s"
    )


if __name__ == "__main__":
    app()
