# gdb helper for Grove programs: lists green threads and their stacks, in a live process
# or a core file.
#
#   gdb -x tools/grove-gdb.py PROGRAM CORE      (or attach: gdb -x ... -p PID)
#   (gdb) grove threads          every green thread of every hub (OS threads running Grove)
#   (gdb) grove bt ID            the stack of green thread ID of the selected OS thread's hub
#                                (ids are per hub; 'thread N' selects another): a frame-pointer
#                                walk from the registers its context switch saved
#   (gdb) grove bt all           every green thread of every hub; the running one of each hub
#                                is its OS thread's own stack, shown with gdb's 'bt'
#
# Hubs are found through the TLS variable grove__tls_hub of each OS thread (gdb reads TLS
# in live processes and core files through libthread_db); a hub lists main, its loop
# thread and hub->all (every live spawned thread, linked through grove__thread.all).
#
# Needs debug info for libgrove (the default RelWithDebInfo build has it). Frames of code
# built without frame pointers end the walk early.
import gdb

STATES = {0: "new", 1: "ready", 2: "running", 3: "parked", 4: "done"}


def _hub_of_selected():
    """The hub of the selected OS thread (a gdb.Value of struct grove__hub), or None."""
    try:
        hub = gdb.parse_and_eval("grove__tls_hub")
    except gdb.error:
        return None
    if int(hub) == 0:
        return None
    return hub.dereference()


def _hub():
    hub = _hub_of_selected()
    if hub is None:
        raise gdb.GdbError("grove: this OS thread has no hub (grove threads lists those that do; pick one with 'thread N')")
    return hub


def _hubs():
    """Every (gdb OS thread, hub) of the inferior, the selected OS thread first."""
    inf = gdb.selected_inferior()
    sel = gdb.selected_thread()
    order = sorted(inf.threads(), key=lambda th: (th != sel, th.num))
    out = []
    try:
        for th in order:
            th.switch()
            hub = _hub_of_selected()
            if hub is not None:
                out.append((th, hub))
    finally:
        if sel is not None:
            sel.switch()
    return out


def _threads(hub):
    """Yields grove__thread records: main, the hub loop, then every live spawned thread."""
    yield hub["main"]
    if int(hub["loop"]) != 0:
        yield hub["loop"].dereference()
    ttype = gdb.lookup_type("struct grove__thread")
    offset = None
    for f in ttype.fields():
        if f.name == "all":
            offset = f.bitpos // 8
    head = hub["all"].address
    node = hub["all"]["next"]
    count = 0
    while int(node) != int(head) and count < 1000000:
        t = gdb.Value(int(node) - offset).cast(ttype.pointer()).dereference()
        yield t
        node = node["next"]
        count += 1


def _name(t):
    name = t["name"].string(length=32).split("\0")[0]
    return name or "thread-%d" % int(t["id"])


def _frames(t, hub):
    """Return addresses of a parked thread, from the frame its switch saved."""
    if int(t.address) == int(hub["current"]):
        return None   # the running one: use gdb's own 'bt'
    sp = int(t["sp"])
    if sp == 0 or (not int(t["started"]) and not int(t["is_main"]) and not int(t["is_hub"])):
        return []   # not started: its stack holds only the entry frame ctx_make built
    inf = gdb.selected_inferior()
    arch = gdb.selected_frame().architecture().name()

    def word(addr):
        return int.from_bytes(bytes(inf.read_memory(addr, 8)), "little")

    if "aarch64" in arch:
        pc, fp = word(sp + 11 * 8), word(sp + 10 * 8)
    else:
        pc, fp = word(sp + 6 * 8), word(sp + 5 * 8)
    lo, hi = int(t["stack_lo"]), int(t["stack_hi"])
    pcs = [pc]
    while lo <= fp < hi and fp % 8 == 0 and len(pcs) < 64:
        ret, nxt = word(fp + 8), word(fp)
        if ret == 0:
            break
        pcs.append(ret)
        if nxt <= fp:
            break
        fp = nxt
    return pcs


def _describe(pc, is_return):
    """pc with its function (and the functions it was inlined into), file and line.
    A return address is looked up one byte earlier: the call, not the next line."""
    look = pc - 1 if is_return else pc
    names = []
    try:
        block = gdb.block_for_pc(look)
    except RuntimeError:
        block = None
    while block is not None:
        if block.function is not None:
            names.append(block.function.print_name)
        block = block.superblock
    sal = gdb.find_pc_line(look)
    where = ""
    if sal.symtab is not None:
        where = " at %s:%d" % (sal.symtab.filename, sal.line)
    if names:
        name = names[0] + ("" if len(names) == 1 else " (inlined into %s)" % " < ".join(names[1:]))
    else:
        name = gdb.execute("info symbol %#x" % look, to_string=True).split(" in ")[0].strip()
    return "%#x in %s%s" % (pc, name, where)


def _print_thread_bt(th, hub, t):
    pcs = _frames(t, hub)
    if pcs is None:
        # The running green thread is the OS thread's own stack: gdb unwinds it.
        sel = gdb.selected_thread()
        try:
            th.switch()
            text = gdb.execute("bt", to_string=True)
        finally:
            sel.switch()
        print("  (running: OS thread %d's own stack)" % th.num)
        for line in text.splitlines():
            print("  " + line)
        return
    for i, pc in enumerate(pcs):
        print("  #%-2d %s" % (i, _describe(pc, i > 0)))


class Grove(gdb.Command):
    """Grove green threads: grove threads | grove bt ID | grove bt all"""

    def __init__(self):
        super().__init__("grove", gdb.COMMAND_USER, prefix=True)


def _state(t, hub):
    if int(t.address) == int(hub["current"]):
        return "running"
    if int(t["is_hub"]):
        return "idle"   # the loop's own state field is not maintained
    return STATES.get(int(t["state"]), "?")


class GroveThreads(gdb.Command):
    """List the green threads of every hub (one per OS thread that runs Grove)."""

    def __init__(self):
        super().__init__("grove threads", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        hubs = _hubs()
        if not hubs:
            raise gdb.GdbError("grove: no OS thread has a hub (is this a Grove program, with debug info?)")
        total = 0
        for th, hub in hubs:
            lwp = th.ptid[1] or th.ptid[2]
            print("OS thread %d (LWP %d) '%s', hub %#x:" % (th.num, lwp, th.name or "", int(hub.address)))
            for t in _threads(hub):
                state = _state(t, hub)
                what = ""
                if state == "parked" and int(t["wait_what"]) != 0:
                    what = " waiting on %s" % t["wait_what"].string()
                kind = " [main]" if int(t["is_main"]) else (" [hub]" if int(t["is_hub"]) else "")
                print("  %-6d %-32s %-8s%s%s" % (int(t["id"]), _name(t), state, what, kind))
                total += 1
        print("grove: %d green threads on %d hubs (main and hub loop included)" % (total, len(hubs)))


class GroveBt(gdb.Command):
    """Backtrace of a green thread: grove bt ID (in the selected OS thread's hub) | grove bt all (every hub)"""

    def __init__(self):
        super().__init__("grove bt", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        want = arg.strip()
        if not want:
            raise gdb.GdbError("usage: grove bt ID | grove bt all")
        if want == "all":
            hubs = _hubs()
        else:
            hubs = [(gdb.selected_thread(), _hub())]
        found = False
        for th, hub in hubs:
            for t in _threads(hub):
                if want != "all" and want != str(int(t["id"])):
                    continue
                found = True
                print("green thread %d '%s' (OS thread %d), %s:" % (int(t["id"]), _name(t), th.num, _state(t, hub)))
                _print_thread_bt(th, hub, t)
        if not found:
            raise gdb.GdbError("grove: no green thread %s in this OS thread's hub" % want)


Grove()
GroveThreads()
GroveBt()
