"""Which containers `up` must recreate rather than trust podman's word for (pure logic: the
state is podman's `inspect` State; the process check reads this machine's /proc), and images
built side by side."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from provisioner import paths
from provisioner.hosts import execnodes, localhosts
from provisioner.hosts.localhosts import ensure_forwarding, is_stale


def gone_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_a_running_container_whose_process_exists_is_trusted() -> None:
    assert not is_stale({"Running": True, "Pid": os.getpid()})


def test_a_running_container_whose_process_is_gone_is_stale() -> None:
    assert is_stale({"Running": True, "Pid": gone_pid()})
    assert is_stale({"Running": True, "Pid": 0})  # podman's state without a process


def test_a_stopped_container_is_not_stale_it_is_started() -> None:
    assert not is_stale({"Running": False, "Pid": 0})


def test_forwarding_is_turned_on_before_hosts_are_created(tmp_path: Path) -> None:
    flag = tmp_path / "ip_forward"
    flag.write_text("0\n")
    said: list[str] = []
    ensure_forwarding(said.append, flag)
    assert flag.read_text() == "1\n"
    assert len(said) == 1
    ensure_forwarding(said.append, flag)  # already on: nothing written, nothing said
    assert len(said) == 1


def test_forwarding_that_cannot_be_turned_on_is_said_not_raised(tmp_path: Path) -> None:
    said: list[str] = []
    ensure_forwarding(said.append, tmp_path / "missing" / "ip_forward")
    assert len(said) == 1
    assert "cannot turn on IPv4 forwarding" in said[0]


def test_missing_images_are_built_side_by_side(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two images' builds overlap (each is mostly downloads and one core's dpkg); the podman
    calls around them are stood in for, the locks and threads are the real ones."""
    built: dict[str, tuple[float, float]] = {}
    present: set[str] = set()

    def fake_podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        code = 0 if args[:2] != ("image", "exists") or args[2] in present else 1
        return subprocess.CompletedProcess(list(args), code, "", "")

    def fake_build(tag: str, image: localhosts.Image, say: localhosts.Say) -> None:
        started = time.monotonic()
        time.sleep(0.5)
        built[image.kind] = (started, time.monotonic())
        present.add(tag)

    monkeypatch.setattr(localhosts, "podman", fake_podman)
    monkeypatch.setattr(localhosts, "_build_image", fake_build)
    images = [localhosts.HOST_IMAGE, execnodes.EXEC_IMAGE]
    tags = localhosts.ensure_images(images)
    assert tags == [localhosts.image_tag(image) for image in images]
    (a_start, a_end), (b_start, b_end) = built["host"], built["exec"]
    assert max(a_start, b_start) < min(a_end, b_end), built  # the two builds overlapped
    built.clear()
    assert localhosts.ensure_images(images) == tags  # both there now: nothing built
    assert built == {}


@pytest.fixture
def key_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(paths, "STATE", tmp_path / "state")
    monkeypatch.setattr(paths, "SSH_KEY", tmp_path / "state" / "ssh" / "id_ed25519")
    return paths.SSH_KEY


def one_key_pair(key: Path) -> str:
    """The pair is whole and matches: the public key derived from the private one is the file."""
    derived = subprocess.run(
        ["ssh-keygen", "-y", "-f", str(key)], capture_output=True, text=True, check=True
    ).stdout.split()[:2]
    assert key.with_suffix(".pub").read_text().split()[:2] == derived
    return derived[1]


def test_runs_starting_together_in_a_fresh_checkout_share_one_key(key_in_tmp: Path) -> None:
    start = threading.Barrier(6)
    failures: list[BaseException] = []

    def first_run() -> None:
        start.wait()
        try:
            localhosts.ensure_ssh_key()
        except Exception as exc:  # collected, asserted below: a thread cannot raise to the test
            failures.append(exc)

    threads = [threading.Thread(target=first_run) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert failures == []
    made = one_key_pair(key_in_tmp)
    localhosts.ensure_ssh_key()  # a later run keeps it
    assert one_key_pair(key_in_tmp) == made


def test_half_a_key_pair_is_replaced_by_a_whole_one(key_in_tmp: Path) -> None:
    localhosts.ensure_ssh_key()
    key_in_tmp.with_suffix(".pub").unlink()  # killed between the two files
    localhosts.ensure_ssh_key()
    one_key_pair(key_in_tmp)
