"""Ctrl-C and SIGTERM stop a run once, and its cleanup runs to the end."""

import signal


def interrupt_once(signum, frame):
    """The first SIGINT or SIGTERM stops the run; later ones are ignored, so the cleanup that
    follows is not cut short (`make` passes a Ctrl-C on to the runner: two often arrive)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


class interruptible:
    """SIGINT and SIGTERM stop what runs inside, once (interrupt_once); the old handlers come back after."""

    def __enter__(self):
        self.previous = {signum: signal.signal(signum, interrupt_once) for signum in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
