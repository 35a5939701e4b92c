"""Tiny random BERT and XLM-R folders for tests and smoke runs, built offline.

BERT gets a WordPiece vocabulary; XLM-R gets a SentencePiece unigram model trained
on a few sentences (synthetic ones, or those you pass), so both tokenizer
families that spacy-transformers aligns differently are exercised. The weights are
random: these models check plumbing, never accuracy. Nothing is downloaded.
"""
from pathlib import Path
from typing import Iterable, Optional

WORDS = (
    "the a cat dog sat on mat and ran to house big small red blue is was "
    "ọmọ ilé wá lọ bahay aso குழந்தை வீடு бала үй kitap hund katze haus"
).split()

SENTENCES = [
    "the cat sat on the mat",
    "a big dog ran to the house",
    "the small red cat is on the blue mat",
    "ọmọ wá sí ilé",
    "ang aso ay nasa bahay",
    "குழந்தை வீடு சென்றது",
    "бала үйге барды",
    "der hund und die katze",
] * 20


def build_tiny_bert(path: Path, hidden: int = 32, layers: int = 3) -> Path:
    """A random BERT with a WordPiece vocabulary of the synthetic words' pieces."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    import torch

    torch.manual_seed(0)
    path.mkdir(parents=True, exist_ok=True)
    chars = sorted({c for w in WORDS for c in w})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS + chars + [f"##{c}" for c in chars]
    vocab = list(dict.fromkeys(vocab))
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf8")
    tokenizer = BertTokenizerFast(vocab_file=str(path / "vocab.txt"), do_lower_case=False, model_max_length=512)
    tokenizer.save_pretrained(str(path))
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=512,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    BertModel(config).save_pretrained(str(path))
    return path


def build_tiny_xlmr(
    path: Path,
    hidden: int = 32,
    layers: int = 3,
    sentences: Optional[Iterable[str]] = None,
    vocab_size: int = 80,
    xlmr_layout: bool = False,
) -> Path:
    """A random XLM-R with ``layers`` layers of width ``hidden`` and a unigram
    SentencePiece vocabulary trained on ``sentences`` (default: a few synthetic
    multilingual ones). With ``xlmr_layout`` the SentencePiece model starts as XLM-R's
    does (<unk>, <s>, </s>), the layout the fast tokenizer's conversion assumes; without,
    <s> and </s> are not in it."""
    import sentencepiece as spm
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaModel, XLMRobertaTokenizerFast

    torch.manual_seed(0)
    path.mkdir(parents=True, exist_ok=True)
    corpus = path / "corpus.txt"
    text = list(sentences) if sentences is not None else SENTENCES + WORDS
    corpus.write_text("\n".join(text), encoding="utf8")
    spm.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(path / "sentencepiece.bpe"),
        vocab_size=vocab_size,
        model_type="unigram",
        character_coverage=1.0,
        bos_id=1 if xlmr_layout else -1,
        eos_id=2 if xlmr_layout else -1,
        pad_id=-1,
        unk_id=0,
        minloglevel=2,
    )
    corpus.unlink()
    (path / "sentencepiece.bpe.vocab").unlink()
    tokenizer = XLMRobertaTokenizerFast(
        vocab_file=str(path / "sentencepiece.bpe.model"), model_max_length=512
    )
    tokenizer.save_pretrained(str(path))
    config = XLMRobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=512 + 2,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        pad_token_id=tokenizer.pad_token_id,
    )
    XLMRobertaModel(config).save_pretrained(str(path))
    return path


def build_e5_like(tiny_xlmr: Path, path: Path, hidden: int = 32, layers: int = 3) -> Path:
    """A random BERT with an XLM-R tokenizer (``tiny_xlmr``'s), shaped like the built
    multilingual-e5-small: what the fine-tuning packs are made from in tests."""
    import shutil

    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    shutil.copytree(tiny_xlmr, path, ignore=shutil.ignore_patterns("config.json", "model.safetensors"))
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_xlmr))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=2, intermediate_size=37, pad_token_id=tokenizer.pad_token_id)
    BertModel(config, add_pooling_layer=False).save_pretrained(str(path))
    return path
