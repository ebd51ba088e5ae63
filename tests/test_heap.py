"""reusing_freed_memory: glibc's allocator settings change inside the block and come back after it."""

from __future__ import annotations

import threading
import time

import pytest

from inpaint_studio.core import heap


class RecordingLibc:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def mallopt(self, option: int, value: int) -> int:
        self.calls.append(("mallopt", option, value))
        return 1

    def malloc_trim(self, pad: int) -> int:
        self.calls.append(("malloc_trim", pad))
        return 1


@pytest.fixture
def libc(monkeypatch) -> RecordingLibc:
    recording = RecordingLibc()
    monkeypatch.setattr(heap, "_libc", recording)
    return recording


def test_settings_apply_inside_and_are_restored_with_a_trim_after(libc):
    with heap.reusing_freed_memory():
        assert ("mallopt", heap._M_MMAP_MAX, 0) in libc.calls
        assert not any(call[0] == "malloc_trim" for call in libc.calls)
    assert libc.calls[-3:] == [
        ("mallopt", heap._M_MMAP_MAX, heap._DEFAULT_MMAP_MAX),
        ("mallopt", heap._M_TRIM_THRESHOLD, heap._DEFAULT_TRIM_THRESHOLD),
        ("malloc_trim", 0),
    ]


def test_overlapping_blocks_restore_only_when_the_last_one_ends(libc):
    first_inside, second_done = threading.Event(), threading.Event()

    def other_fill() -> None:
        with heap.reusing_freed_memory():
            first_inside.set()
            second_done.wait(5)

    thread = threading.Thread(target=other_fill)
    thread.start()
    first_inside.wait(5)
    with heap.reusing_freed_memory():
        pass
    assert not any(call[0] == "malloc_trim" for call in libc.calls)  # the other block still runs
    second_done.set()
    thread.join(5)
    assert libc.calls[-1] == ("malloc_trim", 0)
    assert sum(call[0] == "malloc_trim" for call in libc.calls) == 1


def test_an_exception_inside_still_restores(libc):
    with pytest.raises(RuntimeError):
        with heap.reusing_freed_memory():
            raise RuntimeError("fill failed")
    assert libc.calls[-1] == ("malloc_trim", 0)


def test_without_glibc_it_does_nothing(monkeypatch):
    monkeypatch.setattr(heap, "_libc", None)
    with heap.reusing_freed_memory():
        pass  # no error


def test_on_this_machine_the_real_allocator_accepts_it():
    # Linux CI runs glibc: the real calls must work, and memory use must not explode.
    with heap.reusing_freed_memory():
        blocks = [bytearray(64 << 20) for _ in range(2)]
        del blocks


def _trims(libc: RecordingLibc) -> int:
    return sum(call[0] == "malloc_trim" for call in libc.calls)


def test_with_linger_memory_is_handed_back_only_after_the_delay(libc):
    with heap.reusing_freed_memory(linger=0.3):
        pass
    assert _trims(libc) == 0 and libc.calls[-1] == ("mallopt", heap._M_TRIM_THRESHOLD, heap._KEEP_EVERYTHING)
    deadline = time.monotonic() + 5
    while not _trims(libc) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert libc.calls[-3:] == [
        ("mallopt", heap._M_MMAP_MAX, heap._DEFAULT_MMAP_MAX),
        ("mallopt", heap._M_TRIM_THRESHOLD, heap._DEFAULT_TRIM_THRESHOLD),
        ("malloc_trim", 0),
    ]


def test_a_block_started_while_memory_lingers_keeps_it_and_restarts_the_delay(libc):
    with heap.reusing_freed_memory(linger=0.2):
        pass
    settings = len(libc.calls)
    with heap.reusing_freed_memory(linger=0.2):
        time.sleep(0.4)  # longer than the first block's delay: its release must not happen now
        assert len(libc.calls) == settings  # nothing set again, nothing handed back
    time.sleep(0.1)
    assert _trims(libc) == 0
    deadline = time.monotonic() + 5
    while not _trims(libc) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _trims(libc) == 1
