#!/usr/bin/python3
# The daemon bench's probe (bench/daemon.bench.ts): the one process that watches, a process of its own so that
# no timestamp is taken in the harness's event loop. It runs inside the bench's private network namespace, where
# the only libudev broadcasts are those of the daemon under test. It runs at normal priority, as `udevadm monitor`
# does: at real-time priority (SCHED_FIFO) it took a core's share from udevd's workers during the storm (udevd 252's
# storm span went from ~510 to ~630 ms) and the bench no longer agreed with ../shared/tools/plain-bench.sh.
#
#   - uevents: a NETLINK_KOBJECT_UEVENT socket on the kernel's group (1) and one on libudev's (2); every message is
#     stamped with CLOCK_MONOTONIC on arrival and kept (seqnum, action, devpath; the broadcast's sender port). A load
#     (coldplug, storm) is stamped by `udevadm monitor` instead, as plain-bench stamps it, and the probe reads its
#     sockets only once the load is over: a Python reader of every message took CPU from udevd's second worker (on
#     the nineteenth round's machine, udevd 252's storm in plain-bench's way took about 610 ms without a second
#     listener and 770 ms with one), so the bench read devMaster's storm as 0.61-0.63x udevd's where plain-bench
#     read 1.11-1.14x;
#   - daemons: started by the probe, as a service manager starts them, with $NOTIFY_SOCKET; start to ready is from
#     the moment it lets the daemon's command run (after the namespace set-up, which prints "ready-ns" and waits
#     for a line on stdin) to READY=1 on the notification socket;
#   - commands: run a trigger (the kernel's seqnum is read before and after), time whole processes.
#
# Commands, one JSON object per line on stdin; one JSON reply per line on stdout:
#   {"cmd": "start", "argv": [...], "env": {...}, "log": PATH}  -> {"pid", "ready_ms"} or {"error"}
#   {"cmd": "stop"}                                             -> {"code"}       (SIGTERM to the group, SIGKILL after 10 s)
#   {"cmd": "run", "argv": [...], "monitor": UDEVADM}           -> {"code", "out", "seq_before", "seq_after"}
#       with "monitor": `UDEVADM monitor --kernel --udev` is started first and stamps the load (the next wait's span
#       is from its first KERNEL line to its last UDEV line, as ../shared/tools/plain-bench.sh takes it); the probe
#       reads its own sockets only once the load is over
#   {"cmd": "wait", "from": S, "to": S, "action": A, "devpaths": [...]|null, "timeout_ms": T}
#       waits until every kernel event with from < seqnum <= to (action A, devpath in the list when given) was
#       broadcast, or T ms -> {"events", "missing", "first_kernel_ns", "last_broadcast_ns", "span_ms", "ports",
#       "read_together"} (read_together: the first kernel event and the last broadcast came in one wake-up of the
#       probe, so their stamps are not when they arrived: a stalled machine)
#   {"cmd": "time", "argv": [...], "n": N, "env": {...}}        -> {"ms": [...]} (fork to exit, one after another;
#                                                                  env: variables added to the probe's for these runs)
#   {"cmd": "priority", "realtime": bool}                      -> {} (SCHED_FIFO for a hotplug's two messages, or back)
#   {"cmd": "quit"}
import json
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time

NETLINK_KOBJECT_UEVENT = 15
SO_RCVBUFFORCE = 33

notify_address = sys.argv[1]


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def uevent_socket(group):
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT)
    s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 256 << 20)
    s.bind((0, group))
    return s


kernel_sock = uevent_socket(1)
udev_sock = uevent_socket(2)
notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
notify.bind("\0" + notify_address[1:] if notify_address.startswith("@") else notify_address)

kernel = {}      # seqnum -> (ns, action, devpath, wake-up)
broadcast = {}   # seqnum -> first ns
broadcast_wake = {}  # seqnum -> the probe's wake-up that read the broadcast
wakeups = 0      # select() returns: two messages read in one wake-up were both waiting when the probe got to run
ports = set()
ready_at = None
drops = 0


def field(msg, key, start=0):
    i = msg.find(b"\0" + key + b"=", start)
    if i < 0:
        return None
    j = msg.find(b"\0", i + 1)
    return msg[i + 2 + len(key):j if j >= 0 else len(msg)]


def read_uevents(sock, is_kernel):
    global drops
    while True:
        try:
            msg, addr = sock.recvfrom(65536)
        except BlockingIOError:
            return
        except OSError:  # ENOBUFS: the receive queue overflowed (counted; the wait then reports missing events)
            drops += 1
            continue
        now = time.monotonic_ns()
        seq = field(msg, b"SEQNUM")
        if seq is None:
            continue
        seq = int(seq)
        if is_kernel:
            if addr[0] != 0:
                continue
            head = msg[:msg.find(b"\0")].decode("utf-8", "replace")
            action, _, devpath = head.partition("@")
            kernel.setdefault(seq, (now, action, devpath, wakeups))
        elif addr[0] != 0 and msg.startswith(b"libudev\0"):
            ports.add(addr[0])
            broadcast.setdefault(seq, now)
            broadcast_wake.setdefault(seq, wakeups)


def read_notify():
    global ready_at
    while True:
        try:
            data = notify.recv(4096)
        except BlockingIOError:
            return
        if b"READY=1" in data.split(b"\n") and ready_at is None:
            ready_at = time.monotonic_ns()


sel = selectors.DefaultSelector()
sel.register(kernel_sock, selectors.EVENT_READ, lambda: read_uevents(kernel_sock, True))
sel.register(udev_sock, selectors.EVENT_READ, lambda: read_uevents(udev_sock, False))
sel.register(notify, selectors.EVENT_READ, read_notify)


def pump(timeout):
    global wakeups
    ready = sel.select(timeout)
    wakeups += 1
    for key, _ in ready:
        if key.data is not None:  # stdin is read between commands only
            key.data()


def seqnum():
    with open("/sys/kernel/uevent_seqnum") as f:
        return int(f.read())


daemon = None


def start(cmd):
    global daemon, ready_at
    log = open(cmd["log"], "ab")
    env = dict(os.environ)
    env.update(cmd.get("env", {}))
    env["NOTIFY_SOCKET"] = notify_address
    p = subprocess.Popen(cmd["argv"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env, start_new_session=True)
    daemon = p
    # the namespace set-up prints ready-ns, then waits for a line before it runs the daemon
    line = p.stdout.readline()
    if line.strip() != b"ready-ns":
        p.wait()
        return {"error": "namespace set-up failed: " + line.decode() + open(cmd["log"]).read()[-2000:]}
    ready_at = None
    t0 = time.monotonic_ns()
    p.stdin.write(b"\n")
    p.stdin.flush()
    end = time.monotonic() + 60
    while ready_at is None:
        if p.poll() is not None:
            return {"error": "exited with %s before READY=1: %s" % (p.returncode, open(cmd["log"]).read()[-2000:])}
        if time.monotonic() > end:
            return {"error": "no READY=1 in 60 s"}
        pump(0.05)
    return {"pid": p.pid, "ready_ms": (ready_at - t0) / 1e6, "exec_ns": t0}


def stop(_cmd):
    global daemon, monitor
    if monitor is not None:  # a phase that failed between its monitor's start and its wait
        monitor[0].terminate()
        monitor[0].wait()
        os.unlink(monitor[1])
        monitor = None
    if daemon is None:
        return {"code": None}
    p, daemon = daemon, None
    try:
        os.killpg(p.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(p.pid, signal.SIGKILL)  # whatever of the group is left (rules programs, udevd's workers)
    except ProcessLookupError:
        pass
    p.wait()
    return {"code": p.returncode}


monitor = None   # (Popen, output path): `udevadm monitor` stamping a load (run with "monitor", wait with "monitor")


def start_monitor(udevadm):
    """`udevadm monitor --kernel --udev` into a file, subscribed when this returns (plain-bench waits as long)."""
    global monitor
    path = "/tmp/dm-bench-monitor.%d" % os.getpid()
    out = open(path, "wb")
    monitor = (subprocess.Popen([udevadm, "monitor", "--kernel", "--udev"], stdout=out, stderr=subprocess.DEVNULL), path)
    out.close()
    time.sleep(0.5)


def monitor_cmd(cmd):
    """A monitor started ahead of the daemon (the boot phase: the load comes as soon as the daemon is ready)."""
    start_monitor(cmd["udevadm"])
    return {}


def run(cmd):
    if cmd.get("monitor") and monitor is None:
        # the load's stamps come from `udevadm monitor`, as ../shared/tools/plain-bench.sh takes them; the probe
        # reads none of its sockets until the load is over (its CPU would compete with the daemon's: udevd's second
        # worker, which a Python reader of every message slowed by a fifth in a storm)
        start_monitor(cmd["monitor"])
    before = seqnum()
    p = subprocess.Popen(cmd["argv"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if monitor is not None:
        out = p.communicate()[0].decode("utf-8", "replace")
        return {"code": p.returncode, "out": out, "seq_before": before, "seq_after": seqnum()}
    fd = os.pidfd_open(p.pid)
    done = []
    sel.register(fd, selectors.EVENT_READ, lambda: done.append(1))
    while not done:
        pump(None)
    sel.unregister(fd)
    os.close(fd)
    out = p.stdout.read().decode("utf-8", "replace")
    p.wait()
    return {"code": p.returncode, "out": out, "seq_before": before, "seq_after": seqnum()}


MONITOR_LINE = re.compile(rb"^(KERNEL|UDEV)\s*\[(\d+)\.(\d+)\]\s+(\S+)\s+(\S+)")


def monitor_stamps(lines, action, devpaths):
    """The (KERNEL|UDEV, ns) stamps in lines of `udevadm monitor`'s output, of the events with this action (and devpath)."""
    out = []
    for line in lines:
        m = MONITOR_LINE.match(line)
        if m is None or (action is not None and m.group(4).decode() != action):
            continue
        if devpaths is not None and m.group(5).decode() not in devpaths:
            continue
        out.append((m.group(1), int(m.group(2)) * 1_000_000_000 + int(m.group(3).ljust(9, b"0")[:9])))
    return out


def wait_monitor(lo, hi, action, devpaths, end):
    """wait() of a load stamped by `udevadm monitor`: done when it printed as many broadcasts as kernel events."""
    global monitor
    proc, path = monitor
    stamps, k, u, rest = [], 0, 0, b""
    f = open(path, "rb")

    def read_new(last=False):
        # only what the monitor printed since the last look (its whole output again at each look would be the
        # probe's CPU competing with the daemons during a storm's thousands of lines); a line cut short waits for
        # its end, but the last look takes it
        nonlocal k, u, rest
        lines = (rest + f.read()).split(b"\n")
        rest = b"" if last else lines.pop()
        new = monitor_stamps(lines, action, devpaths)
        stamps.extend(new)
        kernel_lines = sum(1 for kind, _ in new if kind == b"KERNEL")
        k += kernel_lines
        u += len(new) - kernel_lines

    try:
        while time.monotonic() < end:
            time.sleep(0.25)  # as plain-bench looks
            read_new()
            if k > 0 and u >= k:
                break
        time.sleep(0.3)  # as plain-bench: what comes after its last line
    finally:
        proc.terminate()
        proc.wait()
        monitor = None
    read_new(last=True)
    f.close()
    os.unlink(path)
    # the probe's own sockets, read now, say which events of the window were never broadcast
    read_uevents(kernel_sock, True)
    read_uevents(udev_sock, False)
    ours, missing = window(lo, hi, action, devpaths)
    first = min((t for kind, t in stamps if kind == b"KERNEL"), default=None)
    last = max((t for kind, t in stamps if kind == b"UDEV"), default=None)
    return dict(wait_reply(ours, missing, first, last, False), stamped_by="udevadm monitor")


def window(lo, hi, action, devpaths):
    """The kernel events with lo < seqnum <= hi of this action (and devpath) read so far, and those never broadcast."""
    ours = [s for s in range(lo + 1, hi + 1) if s in kernel and (action is None or kernel[s][1] == action) and (devpaths is None or kernel[s][2] in devpaths)]
    return ours, [s for s in ours if s not in broadcast]


def wait_reply(ours, missing, first, last, together):
    return {"events": len(ours), "missing": len(missing), "first_kernel_ns": first, "last_broadcast_ns": last, "read_together": together,
            "span_ms": (last - first) / 1e6 if first is not None and last is not None and not missing else None,
            "ports": sorted(ports), "drops": drops}


def wait(cmd):
    lo, hi = cmd["from"], cmd["to"]
    action = cmd.get("action")
    devpaths = set(cmd["devpaths"]) if cmd.get("devpaths") else None
    end = time.monotonic() + cmd.get("timeout_ms", 60000) / 1000
    if monitor is not None:
        return wait_monitor(lo, hi, action, devpaths, end)
    last_count, last_change = -1, time.monotonic()
    while True:
        pump(0.02)
        ours, missing = window(lo, hi, action, devpaths)
        if len(ours) != last_count:
            last_count, last_change = len(ours), time.monotonic()
        # every seqnum of the window arrived, or none came for 1 s (those belong to other network namespaces)
        complete = all(s in kernel for s in range(lo + 1, hi + 1)) or time.monotonic() - last_change > 1
        if (complete and not missing) or time.monotonic() > end:
            break
    first_seq = min(ours, key=lambda s: kernel[s][0], default=None)
    last_seq = max((s for s in ours if s in broadcast), key=lambda s: broadcast[s], default=None)
    first = kernel[first_seq][0] if first_seq is not None else None
    last = broadcast[last_seq] if last_seq is not None else None
    # the first kernel event and the last broadcast read in one wake-up: the probe did not run between them (a
    # stalled machine), so the span between their stamps says nothing
    together = first_seq is not None and last_seq is not None and kernel[first_seq][3] == broadcast_wake[last_seq]
    return wait_reply(ours, missing, first, last, together)


def time_runs(cmd):
    out = []
    env = dict(os.environ, **cmd["env"]) if "env" in cmd else None
    for _ in range(cmd.get("n", 1)):
        t = time.monotonic_ns()
        code = subprocess.run(cmd["argv"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env).returncode
        out.append((time.monotonic_ns() - t) / 1e6)
        if code != 0:
            return {"error": "%s exited with %d" % (cmd["argv"], code), "ms": out}
    return {"ms": out}


def priority(cmd):
    # only around a hotplug: the probe reads two messages and must not wait for a CPU to stamp them (on two busy
    # CPUs it could, and read the add and the broadcast together); never during a load, where it would take CPU
    # time from the daemons
    if cmd.get("realtime"):
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
    else:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    return {}


def reset(_cmd):
    kernel.clear()
    broadcast.clear()
    broadcast_wake.clear()
    ports.clear()
    return {}


HANDLERS = {"start": start, "stop": stop, "run": run, "wait": wait, "time": time_runs, "reset": reset, "priority": priority, "monitor": monitor_cmd}

def commands():
    """Reads the commands on stdin while the sockets keep being read (a message is stamped when it arrives)."""
    buf = b""
    sel.register(sys.stdin.fileno(), selectors.EVENT_READ, None)
    while True:
        for key, _ in sel.select(None):
            if key.data is not None:
                key.data()
                continue
            chunk = os.read(sys.stdin.fileno(), 65536)
            if not chunk:
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                cmd = json.loads(line)
                if cmd["cmd"] == "quit":
                    return
                try:
                    reply(HANDLERS[cmd["cmd"]](cmd))
                except Exception as e:  # a command's failure is its reply; the probe goes on
                    reply({"error": "%s: %s" % (type(e).__name__, e)})


reply({"ready": True})
commands()
stop({})
