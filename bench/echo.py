"""The baseline bot as its own process: `python -m bench.echo --jid J --port P`.

The password comes from $BENCH_ECHO_PASSWORD (not argv, which `ps` shows). Prints
`online` once its session has started; stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

from bench.xmpp import EchoBot

PASSWORD_ENV = "BENCH_ECHO_PASSWORD"
ONLINE = "online"


async def serve(jid: str, password: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    bot = EchoBot(jid, password, ("127.0.0.1", port))
    await bot.start()
    print(ONLINE, flush=True)
    try:
        await stop.wait()
    finally:
        await bot.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description="a bare slixmpp echo bot (benchmark baseline)")
    parser.add_argument("--jid", required=True)
    parser.add_argument("--port", type=int, required=True, help="Prosody's c2s port on 127.0.0.1")
    args = parser.parse_args()
    password = os.environ.get(PASSWORD_ENV)
    if not password:
        print(f"bench.echo: set {PASSWORD_ENV}", file=sys.stderr)
        return 2
    asyncio.run(serve(args.jid, password, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
