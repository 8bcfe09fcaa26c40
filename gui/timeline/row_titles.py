"""What the timeline calls its rows, Qt-free: the thread's name rather than the numeric ids the
profilers wrap around it, so a row reads "python (CPU) / python" and not
"python (CPU) / thread 16305 (python)".

The trace model keeps the names as the file gave them (`Row.label`, also in the event details,
where the ids help match a row against other tools); only the view shortens them. Kineto names
host threads "thread TID (NAME)"; XLA names its pool threads "NAME/ID" with a long random ID.
Where shortening makes two rows read the same, they are numbered (#1, #2) in table order.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from traces.table import Row

_KINETO_THREAD = re.compile(r"^thread\s+\d+\s+\((?P<name>.+)\)$")
_XLA_THREAD = re.compile(r"^(?P<name>.+?)/-?\d{6,}$")


def thread_title(row: Row) -> str:
    """The thread's own name without profiler ids; "thread TID" only when the trace names none."""
    name = row.thread.strip()
    for pattern in (_KINETO_THREAD, _XLA_THREAD):
        match = pattern.match(name)
        if match:
            name = match.group("name").strip()
            break
    if name:
        return name
    if not row.tid or row.tid == "(none)":
        return ""
    return f"thread {row.tid}" if row.tid.lstrip("-").isdigit() else row.tid


def row_title(row: Row) -> str:
    """"process / thread", with the thread's name as `thread_title` gives it."""
    process = row.process or row.pid
    thread = thread_title(row)
    return f"{process} / {thread}" if thread else process


def row_titles(rows: Sequence[Row]) -> list[str]:
    """`row_title` of each row, numbered where two or more would otherwise read the same."""
    titles = [row_title(r) for r in rows]
    repeated = {t for t, n in Counter(titles).items() if n > 1}
    seen: Counter[str] = Counter()
    out = []
    for title in titles:
        if title in repeated:
            seen[title] += 1
            title = f"{title} #{seen[title]}"
        out.append(title)
    return out
