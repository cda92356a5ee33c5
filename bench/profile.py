"""Summarise a py-spy profile taken by `python -m bench --py-spy` (collapsed stacks).

    python -m bench.profile bench/results/profiles/FILE.txt [--top 25]

Prints where the server's CPU went, grouped by the parts of a relayed token's path
(a sample counts once for the first group, from the top of its stack, whose pattern
matches one of its frames), then the functions with most self time.
"""

import argparse
import collections
import re

# (group, regex over a frame "function (path:line)"), most specific first: a sample goes to
# the first group in this list that any frame of its stack matches (so a socket write made
# by the Redis client counts as Redis, not as the event loop).
GROUPS = [
    ("SQL / database driver", r"django/db/|psycopg|sqlite3"),
    ("Redis client", r"redis/|channels_redis/"),
    ("openai SDK: chunk → pydantic model", r"openai/_models\.py|openai/_compat\.py"),
    ("openai SDK: SSE decoding", r"openai/_streaming\.py"),
    ("httpx / h11 (upstream HTTP)", r"httpx|httpcore|h11/"),
    ("in-memory channel layer", r"channels/layers\.py"),
    ("Markdown render (done event)", r"conversations/rendering\.py|markdown_it|nh3|pygments"),
    ("logging", r"logging/__init__\.py|pythonjsonlogger"),
    ("JSON", r"json/"),
    (
        "autobahn / twisted (WebSocket out)",
        r"autobahn/|daphne/ws_protocol|twisted/internet/(abstract|tcp)\.py|untilConcludes",
    ),
    (
        "channels consumer plumbing",
        r"channels/(consumer|generic|utils|auth|sessions|middleware|routing)",
    ),
    ("Kaiwa: consumer", r"assistant/consumers\.py"),
    ("Kaiwa: publish / live log", r"assistant/live\.py"),
    ("Kaiwa: runner", r"assistant/runner\.py"),
    ("asgiref thread hand-off", r"asgiref/"),
    ("thread pool (DB threads)", r"concurrent/futures"),
    ("asyncio event loop", r"asyncio/|selectors\.py"),
]


# A sample whose innermost frame is one of these is a thread waiting, not working (py-spy's
# --nonblocking sampling cannot always tell).
IDLE = re.compile(
    r"^(EpollSelector\.select|_worker \(concurrent/futures/thread\.py:89\)|"
    r"Condition\.wait|Event\.wait|Thread\._wait_for_tstate_lock)"
)


def _frames(stack: str) -> list[str]:
    return [re.sub(r"\(/.*?site-packages/", "(", f) for f in stack.split(";")]


def summarise(path: str, top: int) -> str:
    groups: collections.Counter = collections.Counter()
    selfs: collections.Counter = collections.Counter()
    total = idle = 0
    compiled = [(name, re.compile(rx)) for name, rx in GROUPS]
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not count.isdigit():
                continue
            n = int(count)
            frames = _frames(stack)
            if IDLE.search(frames[-1]):
                idle += n
                continue
            total += n
            selfs[frames[-1]] += n
            joined = "\n".join(frames)
            name = next((g for g, rx in compiled if rx.search(joined)), "other")
            groups[name] += n
    if not total:
        return f"{path}: no samples"
    out = [
        f"{path}: {total} busy samples ({idle} more of waiting threads left out)",
        "",
        "by part (most specific part found in the stack), share of busy samples:",
    ]
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in groups.most_common()]
    out += ["", f"top {top} functions by self time:"]
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in selfs.most_common(top)]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    for path in args.files:
        print(summarise(path, args.top))
        print()


if __name__ == "__main__":
    main()
