"""layer_fusion.atomic_write: outputs appear complete or not at all, and never replace the wrong kind of thing."""
import os
from pathlib import Path

import pytest

from layer_fusion.atomic_write import atomic_folder, is_stream, unwritable_reason, write_text_atomic


def test_atomic_folder_refuses_to_replace_a_file(tmp_path):
    (tmp_path / "out").write_text("keep", encoding="utf8")
    with pytest.raises(FileExistsError, match="is a file, not a folder"):
        with atomic_folder(tmp_path / "out"):
            pass
    assert (tmp_path / "out").read_text(encoding="utf8") == "keep" and len(list(tmp_path.iterdir())) == 1


def test_a_file_is_not_written_over_a_folder(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(IsADirectoryError, match="is a folder, not a file"):
        write_text_atomic(tmp_path / "out", "x")
    assert (tmp_path / "out").is_dir() and list(tmp_path.iterdir()) == [tmp_path / "out"]


def test_unwritable_reason(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("x", encoding="utf8")
    assert unwritable_reason(tmp_path / "folder") == "it is a folder"
    assert unwritable_reason(tmp_path / "file" / "sub" / "out.json") == f"{tmp_path / 'file'} is a file, not a folder"
    assert unwritable_reason(tmp_path / "new" / "deeper" / "out.json") is None
    assert unwritable_reason(tmp_path / "file") is None  # an existing file is replaced, atomically
    # Folder outputs: an existing folder is fine, a file is not, nor is a file on the way.
    assert unwritable_reason(tmp_path / "folder", folder=True) is None
    assert unwritable_reason(tmp_path / "file", folder=True) == "it is a file, not a folder"
    assert unwritable_reason(tmp_path / "file" / "cache", folder=True) == f"{tmp_path / 'file'} is a file, not a folder"


def test_a_symlink_is_followed_and_kept(tmp_path):
    real = tmp_path / "real.txt"
    real.write_text("old", encoding="utf8")
    (tmp_path / "link.txt").symlink_to(real)
    write_text_atomic(tmp_path / "link.txt", "new")
    assert (tmp_path / "link.txt").is_symlink() and real.read_text(encoding="utf8") == "new"
    (tmp_path / "dangling.txt").symlink_to(tmp_path / "sub" / "target.txt")
    write_text_atomic(tmp_path / "dangling.txt", "made")
    assert (tmp_path / "dangling.txt").is_symlink()
    assert (tmp_path / "sub" / "target.txt").read_text(encoding="utf8") == "made"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dangling.txt", "link.txt", "real.txt", "sub"]


def test_a_fifo_or_a_device_is_written_to_not_replaced(tmp_path):
    import os
    import stat
    import threading

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text(encoding="utf8")))
    reader.start()
    write_text_atomic(fifo, "through the pipe\n")
    reader.join(timeout=10)
    assert received == ["through the pipe\n"] and stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert list(tmp_path.iterdir()) == [fifo]  # no temp file beside it
    write_text_atomic("/dev/null", "discarded")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_dev_stdout_redirected_to_a_file_is_appended_to_not_replaced(tmp_path):
    """`cmd -o /dev/stdout >> log`: /dev/stdout resolves to log, a regular file."""
    import subprocess
    import sys

    log = tmp_path / "log.txt"
    log.write_text("earlier\n", encoding="utf8")
    code = ("import sys; from layer_fusion.atomic_write import write_text_atomic; print('own', flush=True); "
            "write_text_atomic('/dev/stdout', 'written\\n')")
    with open(log, "a") as handle:
        subprocess.run([sys.executable, "-c", code], stdout=handle, check=True)
    assert log.read_text(encoding="utf8") == "earlier\nown\nwritten\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.txt"]


def test_a_stream_needs_its_own_permission_not_its_folders(monkeypatch, tmp_path):
    import os

    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if str(path) == "/dev" else real_access(path, mode))
    assert unwritable_reason("/dev/null") is None  # as a user who cannot write /dev
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    monkeypatch.setattr(os, "access", lambda path, mode: False if str(path) == str(fifo) else real_access(path, mode))
    assert unwritable_reason(fifo) == "it is not writable"


def test_files_in_dev_shm_are_ordinary_files():
    """/dev/shm is a tmpfs folder: its files are replaced whole, as anywhere else, and a new
    one can be created (only the rest of /dev and /proc are streams, written in place)."""
    path = Path("/dev/shm") / f"layer-fusion-test-{os.getpid()}.json"
    try:
        assert not is_stream(path) and unwritable_reason(path) is None
        write_text_atomic(path, '{"a": 1}\n')
        write_text_atomic(path, '{"a": 2}\n')
        assert path.read_text() == '{"a": 2}\n'
    finally:
        path.unlink(missing_ok=True)
    assert is_stream("/dev/stdout") and is_stream("/dev/null") and is_stream("/proc/self/fd/1")


def test_a_symlink_is_checked_where_it_points(monkeypatch, tmp_path):
    """atomic_output writes beside the file a link names, so that folder must be writable, not
    the link's own (checked up front, before long work)."""
    locked = tmp_path / "locked"
    locked.mkdir()
    (tmp_path / "link.json").symlink_to(locked / "out.json")
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if str(path) == str(locked) else real_access(path, mode))
    assert unwritable_reason(tmp_path / "link.json") == f"{locked} is not writable"
    assert unwritable_reason(tmp_path / "plain.json") is None


def test_a_folder_moved_aside_by_a_killed_writer_is_put_back_not_lost(tmp_path):
    """``replace_folder`` killed between its two renames leaves the old result only as
    ``.out.old-PID``: the next ``atomic_folder`` on it puts it back, so an attempt that then
    fails leaves the old result, not nothing; one of a live process is left alone."""
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / f".out.old-{dead.pid}").mkdir()
    (tmp_path / f".out.old-{dead.pid}" / "result.txt").write_text("old")
    (tmp_path / f".out.old-{os.getpid()}").mkdir()  # a writer still at work
    with pytest.raises(RuntimeError):
        with atomic_folder(tmp_path / "out"):
            raise RuntimeError("this attempt fails")
    assert (tmp_path / "out" / "result.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".out.old-{os.getpid()}", "out"]
    # With the result in place, a dead writer's leftover is only deleted.
    (tmp_path / f".out.old-{dead.pid}").mkdir()
    with atomic_folder(tmp_path / "out") as tmp:
        (tmp / "result.txt").write_text("new")
    assert (tmp_path / "out" / "result.txt").read_text() == "new"
    assert f".out.old-{dead.pid}" not in {p.name for p in tmp_path.iterdir()}
    # A delete of the replaced folder cut short leaves it as .trash-: removed, never put back.
    import shutil

    shutil.rmtree(tmp_path / "out")
    (tmp_path / f".out.trash-{dead.pid}").mkdir()
    (tmp_path / f".out.trash-{dead.pid}" / "half.txt").write_text("half-deleted")
    with pytest.raises(RuntimeError):
        with atomic_folder(tmp_path / "out"):
            raise RuntimeError("this attempt fails")
    assert not (tmp_path / "out").exists() and not (tmp_path / f".out.trash-{dead.pid}").exists()


def test_each_writer_fills_a_folder_of_its_own_and_a_dead_ones_is_cleared(tmp_path):
    """Two processes writing one folder each fill ``.out.partial-PID`` (one cleared the other's
    shared ``.out.partial`` and published it half-filled); a dead writer's is removed, a live
    one's is left alone."""
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / f".out.partial-{dead.pid}").mkdir()
    live = subprocess.Popen(["sleep", "30"])
    try:
        (tmp_path / f".out.partial-{live.pid}").mkdir()
        (tmp_path / f".out.partial-{live.pid}" / "half.txt").write_text("being written")
        with atomic_folder(tmp_path / "out") as tmp:
            assert tmp.name == f".out.partial-{os.getpid()}"
            (tmp / "result.txt").write_text("whole")
        assert sorted(p.name for p in tmp_path.iterdir()) == [f".out.partial-{live.pid}", "out"]
        assert (tmp_path / f".out.partial-{live.pid}" / "half.txt").read_text() == "being written"
    finally:
        live.kill()
        live.wait()


def test_folders_made_for_an_output_that_fails_are_removed(tmp_path):
    """An error while writing leaves no temp file and no folder it made; folders that were
    there before, or that something else wrote into meanwhile, stay."""
    from layer_fusion.atomic_write import atomic_text_output

    out = tmp_path / "new" / "sub" / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_text_output(out) as handle:
            handle.write("half")
            raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "new").mkdir()
    with pytest.raises(RuntimeError):
        with atomic_text_output(out) as handle:
            (tmp_path / "new" / "other.txt").write_text("kept")
            raise RuntimeError("stop")
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["other.txt"]
    with atomic_text_output(out) as handle:
        handle.write("whole")
    assert out.read_text() == "whole"


@pytest.mark.parametrize("output,problem", [(".", "it is the current folder"), ("..", "it holds the current folder")])
def test_the_current_folder_is_never_replaced_whole(monkeypatch, tmp_path, output, problem):
    """A folder output of `.` passed every check, the work was done, and the final rename
    failed (EINVAL); `..` would have moved the current folder away."""
    from layer_fusion.atomic_write import replace_folder, replaceable_folder_reason

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert replaceable_folder_reason(output) == problem
    with pytest.raises(IsADirectoryError, match=f"{problem}, which cannot be replaced"):
        with atomic_folder(output):
            pytest.fail("the work started")
    (work / "new").mkdir()
    with pytest.raises(IsADirectoryError, match=problem):
        replace_folder(work / "new", Path(output))
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["new", "work"]
    assert replaceable_folder_reason("cache") is None and replaceable_folder_reason(work / "cache") is None
    (work / "link").symlink_to(work)  # the link is what is renamed, not the folder it names
    assert replaceable_folder_reason("link") is None


def test_the_current_folder_is_found_through_symlinked_parents(monkeypatch, tmp_path):
    """rename follows symlinks in the parents: through `alias -> real`, alias/a is real/a."""
    from layer_fusion.atomic_write import replaceable_folder_reason

    here = tmp_path / "real" / "a" / "b"
    here.mkdir(parents=True)
    (here / "keep").write_text("x")
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    monkeypatch.chdir(here)
    assert replaceable_folder_reason(tmp_path / "alias" / "a" / "b") == "it is the current folder"
    assert replaceable_folder_reason(tmp_path / "alias" / "a") == "it holds the current folder"
    assert replaceable_folder_reason("../../../alias/a") == "it holds the current folder"
    with pytest.raises(IsADirectoryError, match="it holds the current folder"):
        with atomic_folder(tmp_path / "alias" / "a"):
            pytest.fail("the work started")
    assert (here / "keep").read_text() == "x"
    assert replaceable_folder_reason(tmp_path / "alias" / "a" / "c") is None


def test_a_deleted_current_folder_holds_nothing(monkeypatch, tmp_path):
    from layer_fusion.atomic_write import replaceable_folder_reason

    (tmp_path / "gone").mkdir()
    monkeypatch.chdir(tmp_path / "gone")
    (tmp_path / "gone").rmdir()
    assert replaceable_folder_reason(tmp_path / "cache") is None


def test_folders_made_for_a_folder_output_that_fails_are_removed(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_folder(tmp_path / "new" / "sub" / "cache") as tmp:
            (tmp / "half").write_text("x")
            raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "new").mkdir()
    with pytest.raises(RuntimeError):
        with atomic_folder(tmp_path / "new" / "sub" / "cache"):
            (tmp_path / "new" / "other.txt").write_text("kept")
            raise RuntimeError("stop")
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["other.txt"]
