"""bench/perf_split.py: each `perf script` sample counted once, for its thread, by the system call it was in, or else
by the library its innermost frame is in."""

from __future__ import annotations

from bench.perf_split import split

SCRIPT = """python
\tffffffff813ae453 finish_task_switch.isra.0 ([kernel.kallsyms])
\tffffffff81753558 do_epoll_wait ([kernel.kallsyms])
\tffffffff81754bdc __x64_sys_epoll_wait ([kernel.kallsyms])
\t          108f36 epoll_wait (/usr/lib/x86_64-linux-gnu/libc.so.6)

python
\t          17f1d7 _PyEval_EvalFrameDefault (/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0)

pavedroad-store
\tffffffff8144b0ed ext4_sync_file ([kernel.kallsyms])
\tffffffff8144b0ee __x64_sys_fdatasync ([kernel.kallsyms])
\t          10aba4 fdatasync (/usr/lib/x86_64-linux-gnu/libc.so.6)

pavedroad-store
\t          5a1b2c sqlite3VdbeExec (/usr/lib/x86_64-linux-gnu/libsqlite3.so.0.8.6)

pavedroad-store
\tffffffff81e82f7e handle_softirqs ([kernel.kallsyms])
\tffffffff81e82f7f asm_common_interrupt ([kernel.kallsyms])
\t          5a1b2c sqlite3VdbeExec (/usr/lib/x86_64-linux-gnu/libsqlite3.so.0.8.6)

ThreadPoolExecu
\t            1234 [unknown] (/venv/aiohttp/_http_parser.cpython-311-x86_64-linux-gnu.so)
"""


def test_samples_are_split_by_thread_and_kind() -> None:
    assert split(SCRIPT) == {"samples": 6, "threads": {
        "store": {"share": 50.0, "kinds": {"kernel:fdatasync": 16.7, "sqlite": 16.7, "kernel:interrupt": 16.7}},
        "loop": {"share": 33.3, "kinds": {"kernel:epoll_wait": 16.7, "libpython": 16.7}},
        "ThreadPoolExecu": {"share": 16.7, "kinds": {"native:_http_parser": 16.7}},
    }}


def test_nothing_sampled_is_no_thread() -> None:
    assert split("") == {"samples": 0, "threads": {}}
