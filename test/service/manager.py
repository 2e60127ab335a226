#!/usr/bin/python3
# A small service manager for the service tests: it does, for one service, what systemd (and sysMaster) do for
# devmaster.service: it opens the sockets of the socket units itself (NETLINK_KOBJECT_UEVENT group 1, the AF_UNIX
# control sockets) and keeps them across restarts, runs the service with $LISTEN_FDS/$LISTEN_PID/$LISTEN_FDNAMES
# and $NOTIFY_SOCKET (and $WATCHDOG_USEC/$WATCHDOG_PID), receives its notifications on an AF_UNIX datagram socket
# with SO_PASSCRED, and keeps the descriptors it stores with FDSTORE=1 to hand them back at the next start.
#
# Commands, one JSON object per line on stdin; events, one JSON object per line on stdout:
#   {"cmd": "listen-netlink", "name": N}                   -> {"event": "listening", "name": N, "inode": I}
#   {"cmd": "listen-unix", "name": N, "path": P, "type": "seqpacket"|"stream"|"dgram", "listen": bool}
#   {"cmd": "start", "argv": [...], "env": {...}, "watchdog_usec": U, "no_fdnames": bool}
#                                                          -> {"event": "started", "pid": P, "fds": [names]}
#   {"cmd": "stop"}                                        -> SIGTERM to the service
#   {"cmd": "kill"}                                        -> SIGKILL to the service
#   {"cmd": "quit"}
#   (the service exits)                                    -> {"event": "exited", "pid": P, "code": C, "signal": S}
#   (a notification arrives)                               -> {"event": "notify", "usec": CLOCK_MONOTONIC µs,
#                                                              "pid": sender, "fields": {...}, "fds": [...]}
# The notification socket is argv[1] ("@name" for an abstract one). Sockets of the units are passed first, then
# the stored ones, as systemd does.
import array
import fcntl
import json
import os
import selectors
import signal
import socket
import stat
import sys
import time

SOL_NETLINK_UEVENT = 15
SO_RCVBUFFORCE = 33

notify_address = sys.argv[1]


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def describe(fd):
    try:
        s = socket.socket(fileno=os.dup(fd))
        d = {"family": int(s.family), "type": int(s.type), "proto": s.proto, "inode": os.fstat(fd).st_ino}
        s.close()
        return d
    except OSError as e:
        return {"error": str(e), "inode": os.fstat(fd).st_ino}


notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
notify.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
notify.bind(("\0" + notify_address[1:]) if notify_address.startswith("@") else notify_address)

units = []   # [(name, socket)] kept for the whole run, like socket units
store = []   # [(name, fd)] the file descriptor store
child = None

sel = selectors.DefaultSelector()
sel.register(notify, selectors.EVENT_READ, "notify")
sel.register(sys.stdin, selectors.EVENT_READ, "stdin")


def on_notify():
    msg, anc, _flags, _addr = notify.recvmsg(4096, socket.CMSG_SPACE(64 * 4) + socket.CMSG_SPACE(12))
    usec = time.monotonic_ns() // 1000
    fds, pid = [], None
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            a = array.array("i")
            a.frombytes(data[: len(data) - len(data) % a.itemsize])
            fds += list(a)
        elif level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = int.from_bytes(data[0:4], "little")
    fields = {}
    for line in msg.decode("utf-8", "replace").split("\n"):
        if "=" in line:
            k, v = line.split("=", 1)
            fields[k] = v
    described = [describe(fd) for fd in fds]
    if fields.get("FDSTORE") == "1" and fds:
        name = fields.get("FDNAME", "stored")
        for fd in fds:
            # systemd drops a descriptor of a socket it already stores
            if any(os.fstat(f).st_ino == os.fstat(fd).st_ino for _n, f in store):
                os.close(fd)
            else:
                store.append((name, fd))
    else:
        for fd in fds:
            os.close(fd)
    if fields.get("FDSTOREREMOVE") == "1":
        name = fields.get("FDNAME")
        for n, f in [x for x in store if x[0] == name]:
            os.close(f)
            store.remove((n, f))
    emit({"event": "notify", "usec": usec, "pid": pid, "fields": fields, "fds": described})


def start(cmd):
    global child
    passed = [(n, s.fileno()) for n, s in units] + list(store)
    env = dict(os.environ)
    env.update(cmd.get("env", {}))
    env["NOTIFY_SOCKET"] = notify_address
    pid = os.fork()
    if pid == 0:
        try:
            # move every descriptor out of the way first, then onto 3, 4, ...
            tmp = [fcntl.fcntl(fd, fcntl.F_DUPFD, 1000) for _n, fd in passed]
            for i, fd in enumerate(tmp):
                os.dup2(fd, 3 + i, inheritable=True)
            env["LISTEN_FDS"] = str(len(passed))
            env["LISTEN_PID"] = str(os.getpid())
            if not cmd.get("no_fdnames"):
                env["LISTEN_FDNAMES"] = ":".join(n for n, _fd in passed)
            if cmd.get("watchdog_usec"):
                env["WATCHDOG_USEC"] = str(cmd["watchdog_usec"])
                env["WATCHDOG_PID"] = str(os.getpid())
            keep = set(range(3, 3 + len(passed)))
            for fd in os.listdir("/proc/self/fd"):
                fd = int(fd)
                if fd > 2 and fd not in keep:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            argv = cmd["argv"]
            os.chdir(cmd.get("cwd", "/"))
            os.execvpe(argv[0], argv, env)
        finally:
            os._exit(127)
    child = pid
    emit({"event": "started", "pid": pid, "fds": [n for n, _fd in passed]})


def reap():
    global child
    if child is None:
        return
    pid, status = os.waitpid(child, os.WNOHANG)
    if pid == 0:
        return
    emit({"event": "exited", "pid": pid, "code": os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else None,
          "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None})
    child = None


def command(line):
    cmd = json.loads(line)
    c = cmd["cmd"]
    if c == "listen-netlink":
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, SOL_NETLINK_UEVENT)
        s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, cmd.get("rcvbuf", 8 << 20))
        s.bind((0, 1))
        units.append((cmd["name"], s))
        emit({"event": "listening", "name": cmd["name"], "inode": os.fstat(s.fileno()).st_ino})
    elif c == "listen-unix":
        kind = {"seqpacket": socket.SOCK_SEQPACKET, "stream": socket.SOCK_STREAM, "dgram": socket.SOCK_DGRAM}[cmd["type"]]
        s = socket.socket(socket.AF_UNIX, kind | socket.SOCK_CLOEXEC)
        if cmd["type"] != "dgram":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        s.bind(cmd["path"])
        os.chmod(cmd["path"], 0o600)
        if cmd.get("listen", cmd["type"] != "dgram"):
            s.listen(4096)
        units.append((cmd["name"], s))
        emit({"event": "listening", "name": cmd["name"], "inode": os.fstat(s.fileno()).st_ino})
    elif c == "start":
        start(cmd)
    elif c == "stop" and child is not None:
        os.kill(child, signal.SIGTERM)
    elif c == "kill" and child is not None:
        os.kill(child, signal.SIGKILL)
    elif c == "store":
        emit({"event": "store", "fds": [{"name": n, **describe(f)} for n, f in store]})
    elif c == "quit":
        if child is not None:
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
        for _n, s in units:
            if s.family == socket.AF_UNIX:
                try:
                    path = s.getsockname()
                    if path and stat.S_ISSOCK(os.lstat(path).st_mode):
                        os.unlink(path)
                except OSError:
                    pass
        sys.exit(0)


emit({"event": "ready"})
while True:
    for key, _mask in sel.select(timeout=0.05):
        if key.data == "notify":
            on_notify()
        else:
            line = sys.stdin.readline()
            if not line:
                command('{"cmd": "quit"}')
            elif line.strip():
                command(line)
    reap()
