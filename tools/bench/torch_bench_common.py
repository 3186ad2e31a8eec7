"""What the PyTorch comparison scripts of tools/bench share: timing a
callable the way tokenclip-bench times a case (one warm-up, then the median
of the repetitions) and reading tokenclip-bench's output to compare with."""
import time

import torch


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])


def time_ms(fn, reps, sync=lambda: None, warmup=1):
    """Wall-clock and CPU milliseconds of each of reps calls of fn, after
    warmup calls (one by default), under torch.no_grad(); sync() waits for
    an asynchronous device."""
    with torch.no_grad():
        for _ in range(max(warmup, 1)):
            fn()
        sync()
        ms, cpu = [], []
        for _ in range(reps):
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            sync()
            ms.append((time.perf_counter() - t0) * 1e3)
            cpu.append((time.process_time() - c0) * 1e3)
    return ms, cpu


def bench_rows(lines):
    """(kernel, shape, what, ms, cpu ms) per timed case in tokenclip-bench's
    output, whose lines are: kernel shape what... ms GFLOP/s cpu-ms first-ms
    (comments and skipped cases start with #)."""
    for line in lines:
        fields = line.split()
        if len(fields) < 6 or line[0] in "#=":  # comments; gpu_run.sh's step lines
            continue
        try:
            yield fields[0], fields[1], " ".join(fields[2:-4]), float(fields[-4]), float(fields[-2])
        except ValueError:
            continue
