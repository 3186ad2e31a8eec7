"""A one-line progress bar with an ETA on a terminal (stderr), and plain
lines elsewhere: what tokenclip-train shows while it works."""
import sys
import time


def duration(seconds):
    """1:02:03 / 2:03 / 0:07."""
    s = int(round(max(seconds, 0)))
    h, m = divmod(s, 3600)
    m, s = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """bar = Progress(total, "features"); bar.update(done, "loss 0.123"); bar.close().
    On a terminal the line is redrawn at most 10 times a second; otherwise
    nothing is drawn (the caller prints its own summary lines)."""

    def __init__(self, total, label, stream=None, enabled=None, width=24):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.total, self.label, self.width = max(total, 1), label, width
        self.start = time.monotonic()
        self.last_draw = 0.0
        self.drawn = False

    def eta(self, done):
        elapsed = time.monotonic() - self.start
        return elapsed / done * (self.total - done) if done else float("nan")

    def update(self, done, text="", force=False):
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.last_draw < 0.1 and done < self.total:
            return
        self.last_draw = now
        fill = int(self.width * min(done, self.total) / self.total)
        eta = self.eta(done)
        eta_text = duration(eta) if eta == eta else "-"
        line = f"{self.label} [{'#' * fill}{'.' * (self.width - fill)}] {done}/{self.total} {text} ETA {eta_text}"
        self.stream.write("\r" + line + "\033[K")
        self.stream.flush()
        self.drawn = True

    def close(self):
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
        self.drawn = False
