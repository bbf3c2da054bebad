"""The file and local-memory caches hold at most MAX_BYTES, whatever the number of entries."""

import os

import pytest

from exnaton.cache import SizeBoundedFileCache, SizeBoundedLocMemCache

KIB = 1024
MAX_BYTES = 1000 * KIB


def report_sized(i: int) -> bytes:
    """300 KiB that do not compress (the file cache writes compressed pickles)."""
    return os.urandom(300 * KIB) + str(i).encode()


def file_cache(tmp_path, **options) -> SizeBoundedFileCache:
    return SizeBoundedFileCache(str(tmp_path), {"OPTIONS": {"MAX_BYTES": MAX_BYTES, **options}})


def on_disk(tmp_path) -> int:
    return sum(path.stat().st_size for path in tmp_path.glob("*.djcache"))


def test_the_file_cache_stays_within_its_bytes_and_keeps_the_newest(tmp_path):
    cache = file_cache(tmp_path)
    for i in range(10):
        cache.set(f"report-{i}", report_sized(i))
        assert on_disk(tmp_path) <= MAX_BYTES

    assert cache.get("report-9") is not None
    assert cache.get("report-0") is None


def test_the_file_cache_culls_down_to_three_quarters_so_the_next_write_fits(tmp_path):
    cache = file_cache(tmp_path)
    for i in range(4):  # the fourth passes the bound
        cache.set(f"report-{i}", report_sized(i))

    assert on_disk(tmp_path) <= MAX_BYTES * 3 // 4
    cache.set("small", 1)
    assert cache.get("report-3") is not None


def test_small_entries_are_not_culled_while_they_fit(tmp_path):
    cache = file_cache(tmp_path)
    for i in range(200):
        cache.set(f"count-{i}", i)

    assert cache.get("count-0") == 0


@pytest.fixture
def memory_cache():
    cache = SizeBoundedLocMemCache("bounded-test", {"OPTIONS": {"MAX_BYTES": MAX_BYTES}})
    yield cache
    cache.clear()


def test_the_memory_cache_stays_within_its_bytes_and_drops_the_least_recently_used(memory_cache):
    for i in range(3):
        memory_cache.set(f"report-{i}", report_sized(i))
    memory_cache.get("report-0")  # used again: report-1 is now the least recently used
    memory_cache.set("report-3", report_sized(3))

    held = sum(len(value) for value in memory_cache._cache.values())
    assert held <= MAX_BYTES
    assert memory_cache.get("report-0") is not None
    assert memory_cache.get("report-1") is None
    assert memory_cache.get("report-3") is not None
