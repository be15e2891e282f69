"""A list that keeps indexes of its items, for the emulators' logs that are looked up by what they belong to
(PagerDuty's notes and log entries by incident, ServiceNow's journal by record and by sys_id), so a lookup costs
the same with ten items as with ten thousand.

`IndexedList` is the list part, written once: a subclass says how one item is indexed (`_note`) and how its
indexes start empty (`_forget_all`). Items are added with append, extend or `+=` (what the emulators do), each noted
as it comes; anything else that changes the list (setting, deleting, insert, remove, pop, clear, sort, reverse)
rebuilds the indexes from the whole list, so they never disagree with it whatever a test or a control route does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Self, SupportsIndex, TypeVar

T = TypeVar("T")


class IndexedList(list[T]):
    def __init__(self, items: Iterable[T] = ()) -> None:
        super().__init__(items)
        self._reindex()

    def _note(self, item: T) -> None:
        """Index one item, appended last."""
        raise NotImplementedError

    def _forget_all(self) -> None:
        """Empty (or first create) the indexes."""
        raise NotImplementedError

    def append(self, item: T) -> None:
        super().append(item)
        self._note(item)

    def extend(self, items: Iterable[T]) -> None:
        for item in items:
            self.append(item)

    def __iadd__(self, items: Iterable[T]) -> Self:  # type: ignore[override,misc]
        self.extend(items)
        return self

    def __setitem__(self, index: Any, value: Any) -> None:
        super().__setitem__(index, value)
        self._reindex()

    def __delitem__(self, index: SupportsIndex | slice) -> None:
        super().__delitem__(index)
        self._reindex()

    def __imul__(self, times: SupportsIndex) -> Self:
        super().__imul__(times)
        self._reindex()
        return self

    def insert(self, index: SupportsIndex, item: T) -> None:
        super().insert(index, item)
        self._reindex()

    def remove(self, item: T) -> None:
        super().remove(item)
        self._reindex()

    def pop(self, index: SupportsIndex = -1) -> T:
        item = super().pop(index)
        self._reindex()
        return item

    def clear(self) -> None:
        super().clear()
        self._reindex()

    def sort(self, *, key: Callable[[T], Any] | None = None, reverse: bool = False) -> None:
        super().sort(key=key, reverse=reverse)
        self._reindex()

    def reverse(self) -> None:
        super().reverse()
        self._reindex()

    def _reindex(self) -> None:
        self._forget_all()
        for item in self:
            self._note(item)
