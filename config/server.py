"""The server Kaiwa runs as: daphne on uvloop's event loop.

    python -m config.server [daphne's options] config.asgi:application

Daphne creates its event loop (the one Twisted's asyncio reactor runs on) when `daphne.server`
is first imported, from the event-loop policy in force then; its command line offers no way
to choose the loop. This entry point installs uvloop's policy first and then hands the
command line to daphne, so every option of daphne's works unchanged.

Why: uvloop runs the loop itself and the upstream connections (aiohttp) in C. On the relay
benchmark (one process, N = 200) it cut the added time to first token by about 40 % and the
inter-token gap p99 by half (README, "Benchmark"). Plain `daphne config.asgi:application`
still works, on asyncio's own loop.
"""

import asyncio
import sys


def install_uvloop() -> None:
    """Make the event loops created from now on uvloop's; must run before daphne.server."""
    import uvloop

    if "daphne.server" in sys.modules:
        raise RuntimeError("daphne.server was imported first: its event loop already exists")
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def main(argv: list[str] | None = None) -> None:
    install_uvloop()
    from daphne.cli import CommandLineInterface

    CommandLineInterface().run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
