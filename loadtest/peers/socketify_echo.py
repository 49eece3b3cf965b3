#!/usr/bin/env python3
"""WebSocket echo peer on the uWebSockets engine, through PyPI's `socketify`.

Usage: socketify_echo.py PORT [--workers N]

Listens on 127.0.0.1:PORT and echoes every text or binary message on any path
(`/echo` included). uWebSockets answers pings and the closing handshake itself.
With --workers N (default 1) it forks N processes that share the port through
SO_REUSEPORT (uSockets sets it on every listen socket), since one socketify
process runs one event loop on one thread. Prints `listening on 127.0.0.1:PORT`
once per process when that process is accepting, then `pids P1,P2,...` from the
parent so that a memory probe can sum the RSS of all of them.
"""

import os
import signal
import sys


def usage(code, prog="socketify_echo.py"):
    out = sys.stderr if code else sys.stdout
    print("usage: %s PORT [--workers N]" % prog, file=out)
    sys.exit(code)


def parse(argv, prog="socketify_echo.py"):
    """PORT [--workers N] -> (port, workers); exits with the usage on anything else."""
    port = None
    workers = 1
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            usage(0, prog)
        elif a == "--workers" and i + 1 < len(argv):
            workers = int(argv[i + 1])
            i += 1
        elif a.isdigit() and port is None:
            port = int(a)
        else:
            usage(2, prog)
        i += 1
    if port is None or not (0 < port < 65536) or not (1 <= workers <= 64):
        usage(2, prog)
    return port, workers


def echo(app):
    def on_message(ws, message, opcode):
        ws.send(message, opcode)

    return on_message


def serve(port, handler=echo):
    """Runs one uWebSockets loop on 127.0.0.1:PORT; handler(app) gives the message callback."""
    # Imported in each process after the fork: every worker gets its own loop.
    from socketify import App, CompressOptions

    app = App()
    app.ws(
        "/*",
        {
            "compression": CompressOptions.DISABLED,
            "max_payload_length": 16 * 1024 * 1024,
            "idle_timeout": 960,
            "max_backpressure": 16 * 1024 * 1024,
            "message": handler(app),
        },
    )
    app.any("/*", lambda res, req: res.write_status(404).end("not found"))

    def on_listen(config):
        print("listening on 127.0.0.1:%d" % port, flush=True)

    app.listen({"port": port, "host": "127.0.0.1"}, on_listen)
    app.run()


def main():
    port, workers = parse(sys.argv[1:])
    children = []
    for _ in range(workers - 1):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            serve(port)
            os._exit(0)
        children.append(pid)

    def stop(sig, frame):
        for c in children:
            try:
                os.kill(c, signal.SIGTERM)
            except ProcessLookupError:
                pass
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    print("pids %s" % ",".join(str(p) for p in [os.getpid()] + children), flush=True)
    serve(port)


if __name__ == "__main__":
    main()
