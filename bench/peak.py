"""Runs a command and reports its wall time, peak resident memory and peak
anonymous memory: `seconds rss_kb anon_kb` on one line of the file -o names.

Peak resident memory is the kernel's own maximum (wait4's ru_maxrss). It counts
file-backed pages too: a memory-mapped CSV file is resident but reclaimable.
Anonymous memory (heap: what the process itself allocated) is sampled from
/proc/<pid>/status (RssAnon) every 10 ms, summed over the process and its
descendants, so a peak shorter than that can be missed.

usage: python peak.py -o FILE CMD [ARGS...]   (exit code: the command's)
"""
import os
import sys
import time


def children(pid):
    """The process and its descendants, from /proc."""
    tree = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(tree.get(p, []))
    return out


def anon_kb(procs):
    total = 0
    for p in procs:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("RssAnon:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def main(argv):
    if len(argv) < 3 or argv[0] != "-o":
        sys.exit(__doc__)
    out, cmd = argv[1], argv[2:]
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    peak_anon, tick, procs = 0, 0, [pid]
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            break
        # Walking /proc for descendants costs more than reading a status
        # file: do it every half second, not every sample.
        if tick % 50 == 0:
            procs = children(pid)
        tick += 1
        peak_anon = max(peak_anon, anon_kb(procs))
        time.sleep(0.01)
    seconds = time.monotonic() - start
    with open(out, "w") as f:
        f.write(f"{seconds:.2f} {usage.ru_maxrss} {peak_anon}\n")
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
