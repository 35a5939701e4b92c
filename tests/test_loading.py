"""layer_fusion.loading.resolve_pipeline: what a pipeline name given to the CLI means."""
import re
from pathlib import Path

import pytest
import spacy

from layer_fusion.loading import PipelineLoadError, resolve_pipeline


def test_a_folder_that_is_no_pipeline_does_not_hide_an_installed_package(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "xx_fake").mkdir()  # what `spacy package` leaves: a source folder of the package's name
    with pytest.raises(PipelineLoadError, match=r"xx_fake is not a spaCy pipeline folder \(a folder without config.cfg\)"):
        resolve_pipeline("xx_fake")
    monkeypatch.setattr(spacy.util, "is_package", lambda name: name == "xx_fake")
    assert resolve_pipeline("xx_fake") == "xx_fake"
    (tmp_path / "xx_fake" / "config.cfg").write_text("[nlp]\n", encoding="utf8")  # a pipeline folder wins
    assert resolve_pipeline("xx_fake") == Path("xx_fake")


def test_an_empty_name_is_an_error_that_says_so():
    with pytest.raises(PipelineLoadError, match="the pipeline name is empty"):
        resolve_pipeline("")


def test_a_config_error_names_the_setting_and_the_reason_on_one_line(tmp_path):
    """confection's message starts with a blank line and a title and ends with the whole block's
    settings: its first line alone ("Config error for ...") named no setting."""
    from layer_fusion.loading import load_pipeline

    nlp = spacy.blank("xx")
    nlp.add_pipe("sentencizer")
    nlp.to_disk(tmp_path / "p")
    config = tmp_path / "p" / "config.cfg"
    text = config.read_text(encoding="utf-8")
    assert "\noverwrite = false\n" in text
    config.write_text(text.replace("\noverwrite = false\n", "\noverwrite = \"abc\"\n"), encoding="utf-8")
    with pytest.raises(PipelineLoadError) as err:
        load_pipeline(str(tmp_path / "p"))
    message = str(err.value)
    assert "\n" not in message and len(message) < 300, message
    assert "sentencizer" in message and "overwrite" in message and "abc" in message, message


def test_a_wheel_or_a_package_folder_given_as_the_pipeline_says_what_to_give(tmp_path):
    """What a user of `spacy package`'s output tries first: the wheel, or the package's folder
    (the pipeline is two levels down in it)."""
    wheel = tmp_path / "xx_pos_demo-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"PK")
    with pytest.raises(PipelineLoadError, match=r"is a wheel: pip install it, then give its package name \(xx_pos_demo\)$"):
        resolve_pipeline(str(wheel))
    with pytest.raises(PipelineLoadError, match=r"is not a spaCy pipeline folder \(a file\)"):
        resolve_pipeline(str(wheel))
    package = tmp_path / "xx_pos_demo-0.1.0"
    inner = package / "xx_pos_demo" / "xx_pos_demo-0.1.0"
    inner.mkdir(parents=True)
    (package / "dist").mkdir()
    (inner / "config.cfg").write_text("[nlp]\n", encoding="utf8")
    with pytest.raises(PipelineLoadError, match=f"the pipeline folder in it is {re.escape(str(inner))}$"):
        resolve_pipeline(str(package))
    with pytest.raises(PipelineLoadError, match=r"check the path \(e.g. training/finetuned/model-last\)$"):
        resolve_pipeline(str(package / "dist"))
