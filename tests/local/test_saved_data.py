"""The local run's saved data is private: a 0700 folder, 0600 files written without following a
symbolic link, and a file another user owns or can write is not loaded (issue 19)."""

import os
import pathlib
import stat

import pytest

from dev.local_aws import state
from dev.run import state_folder


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def open_umask():
    old = os.umask(0)  # the worst a user may have: files would be world-writable by default
    yield
    os.umask(old)


def test_the_folder_is_0700_and_a_state_file_0600_whatever_the_umask(tmp_path, open_umask):
    folder = state_folder({"LOCAL_STATE_DIR": str(tmp_path / "state")})
    state.write(folder / "moto-aws.pickle", b"data")
    assert mode(folder) == 0o700
    assert mode(folder / "moto-aws.pickle") == 0o600
    assert sorted(p.name for p in folder.iterdir()) == ["moto-aws.pickle"]  # no temporary file left


def test_an_existing_folder_of_ours_is_made_private(tmp_path):
    folder = tmp_path / "state"
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)
    state_folder({"LOCAL_STATE_DIR": str(folder)})
    assert mode(folder) == 0o700


@pytest.mark.parametrize("planted", ["moto-aws.pickle", "moto-aws.pickle.partial"])
def test_a_symbolic_link_planted_in_the_folder_is_never_written_through(tmp_path, planted):
    victim = tmp_path / "victim"
    victim.write_bytes(b"untouched")
    folder = state.private_folder(tmp_path / "state")
    (folder / planted).symlink_to(victim)
    state.write(folder / "moto-aws.pickle", b"data")
    assert victim.read_bytes() == b"untouched"
    assert not (folder / "moto-aws.pickle").is_symlink()
    assert (folder / "moto-aws.pickle").read_bytes() == b"data"


@pytest.mark.parametrize("loose", [0o620, 0o602, 0o666])
def test_a_file_others_can_write_is_not_loaded_and_the_message_says_why(tmp_path, loose):
    path = tmp_path / "moto-aws.pickle"
    path.write_bytes(b"whatever")
    path.chmod(loose)
    with pytest.raises(state.StateError, match="can be written by other users.*chmod 600"):
        state.load(path)


def test_a_symbolic_link_is_not_loaded(tmp_path):
    target = tmp_path / "elsewhere.pickle"
    target.write_bytes(b"whatever")
    target.chmod(0o600)
    (tmp_path / "moto-aws.pickle").symlink_to(target)
    with pytest.raises(state.StateError, match="symbolic link"):
        state.load(tmp_path / "moto-aws.pickle")


@pytest.mark.skipif(os.getuid() != 0, reason="only root can give a file to another user")
def test_a_file_another_user_owns_is_not_loaded(tmp_path):
    path = tmp_path / "moto-aws.pickle"
    path.write_bytes(b"whatever")
    path.chmod(0o600)
    os.chown(path, 65534, 65534)  # nobody
    with pytest.raises(state.StateError, match="belongs to another user"):
        state.load(path)


def test_an_own_private_file_is_read(tmp_path):
    path = tmp_path / "moto-aws.pickle"
    state.write(path, b"not a pickle")
    with pytest.raises(state.StateError, match="cannot be read"):  # read, then found damaged: not refused unread
        state.load(path)
    assert state.load(pathlib.Path(tmp_path / "missing.pickle")) is False
