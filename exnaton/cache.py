"""Django's file and local-memory caches, bounded by the bytes they hold as well as by count.

Django bounds both by entry count (MAX_ENTRIES), but one entry here may be a year-long report
with its charts, megabytes where a throttle count is a few bytes: 300 of them would fill the
64Mi /tmp of a Kubernetes pod, whose kubelet then evicts the pod. With OPTIONS["MAX_BYTES"],
each write past that bound removes the oldest entries until a quarter of the bound is free,
so that the writes after it do not have to cull again at once. exnaton/settings.py installs
these in place of Django's two, with CACHE_MAX_BYTES.
"""

import os

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.filebased import FileBasedCache
from django.core.cache.backends.locmem import LocMemCache


def _room_target(max_bytes: int) -> int:
    return max_bytes * 3 // 4


class SizeBoundedFileCache(FileBasedCache):
    """A file cache whose files (compressed pickles) add up to at most MAX_BYTES.

    Oldest written first: reads do not touch a file, so this is not LRU, but a report's
    entries are written together and read soon after. Workers sharing the directory may cull
    at once; a file another one removed first is skipped.
    """

    def __init__(self, dir, params):
        super().__init__(dir, params)
        self._max_bytes = int(params.get("OPTIONS", {}).get("MAX_BYTES", 0))

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        super().set(key, value, timeout, version)
        if self._max_bytes:
            self._cull_to_size()

    def _cull_to_size(self) -> None:
        entries = []
        for path in self._list_cache_files():
            try:
                stat = os.stat(path)
            except FileNotFoundError:
                continue
            entries.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in entries)
        if total <= self._max_bytes:
            return
        for _, size, path in sorted(entries):
            if total <= _room_target(self._max_bytes):
                break
            self._delete(path)
            total -= size


class SizeBoundedLocMemCache(LocMemCache):
    """A per-process memory cache whose pickled values add up to at most MAX_BYTES; the least
    recently used go first."""

    def __init__(self, name, params):
        super().__init__(name, params)
        self._max_bytes = int(params.get("OPTIONS", {}).get("MAX_BYTES", 0))

    def _set(self, key, value, timeout=DEFAULT_TIMEOUT):
        super()._set(key, value, timeout)
        if not self._max_bytes:
            return
        total = sum(len(pickled) for pickled in self._cache.values())
        if total <= self._max_bytes:
            return
        # Django keeps the most recently used at the front; the oldest are at the end.
        while self._cache and total > _room_target(self._max_bytes):
            oldest = next(reversed(self._cache))
            total -= len(self._cache[oldest])
            self._delete(oldest)
