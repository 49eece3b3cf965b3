#!/usr/bin/env python3
"""WebSocket fan-out peer on the uWebSockets engine, through PyPI's `socketify`,
using uWebSockets' own pub/sub (topics). For `qv-load fanout --protocol raw`.

Usage: socketify_fanout.py PORT [--workers 1]

Listens on 127.0.0.1:PORT, any path. A text message `subscribe TOPIC` subscribes the
connection to TOPIC and is answered with the text `subscribed TOPIC`. Any other text
message is a publish: its channel is read cheaply (the text between `"channel":"` and
the next `"`, no JSON parsing) and the message's bytes go, unchanged, to every
subscriber of that topic (app.publish, one text frame each). Publishes get no reply.

One process only: uWebSockets' topics live in one event loop, so worker processes
sharing the port would each see only part of the subscribers (--workers is accepted
for the benchmark scripts' sake, and must be 1). Prints `pids PID` and then
`listening on 127.0.0.1:PORT` once accepting.
"""

import sys


def parse(argv):
    # Same command line as the echo peer (beside this file), which starts the same way.
    from socketify_echo import parse as parse_echo

    port, workers = parse_echo(argv, "socketify_fanout.py")
    if workers != 1:
        print("socketify_fanout.py: topics are per process; only --workers 1 is supported", file=sys.stderr)
        sys.exit(2)
    return port


CHANNEL_KEY = '"channel":"'


def fanout(app):
    from socketify import OpCode

    def on_message(ws, message, opcode):
        if opcode != OpCode.TEXT:
            return
        if message.startswith("subscribe "):
            topic = message[10:]
            ws.subscribe(topic)
            ws.send("subscribed " + topic, OpCode.TEXT)
            return
        start = message.find(CHANNEL_KEY)
        if start < 0:
            return
        start += len(CHANNEL_KEY)
        end = message.find('"', start)
        if end < 0:
            return
        app.publish(message[start:end], message, OpCode.TEXT)

    return on_message


if __name__ == "__main__":
    import os

    from socketify_echo import serve

    port = parse(sys.argv[1:])
    print("pids %d" % os.getpid(), flush=True)
    serve(port, fanout)
