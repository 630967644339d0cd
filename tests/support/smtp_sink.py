"""A real SMTP server on loopback for tests: stores each received message as a .eml file.

Usage: python3 smtp_sink.py PORT OUTDIR   (prints "ready" once listening; stops when stdin closes)
"""
import os
import sys
import time

from aiosmtpd.controller import Controller


class SaveToFolder:
    def __init__(self, outdir):
        self.outdir = outdir

    async def handle_DATA(self, server, session, envelope):
        name = os.path.join(self.outdir, f"{time.time_ns()}.eml")
        with open(name + ".part", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(name + ".part", name)
        return "250 Message accepted for delivery"


def main():
    port, outdir = int(sys.argv[1]), sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    controller = Controller(SaveToFolder(outdir), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
