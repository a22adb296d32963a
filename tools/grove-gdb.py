# gdb helper for Grove programs: lists green threads and their stacks, in a live process
# or a core file.
#
#   gdb -x tools/grove-gdb.py PROGRAM CORE      (or attach: gdb -x ... -p PID)
#   (gdb) grove threads          every green thread of the current OS thread's hub
#   (gdb) grove bt ID            the stack of green thread ID (a frame-pointer walk from
#                                the registers its context switch saved)
#   (gdb) grove bt all
#
# Needs debug info for libgrove (the default RelWithDebInfo build has it). Frames of code
# built without frame pointers end the walk early.
import gdb

STATES = {0: "new", 1: "ready", 2: "running", 3: "parked", 4: "done"}


def _hub():
    try:
        hub = gdb.parse_and_eval("grove__tls_hub")
    except gdb.error as e:
        raise gdb.GdbError("grove: cannot read grove__tls_hub (%s); select an OS thread that runs a hub" % e)
    if int(hub) == 0:
        raise gdb.GdbError("grove: this OS thread has no hub (try another: info threads, thread N)")
    return hub.dereference()


def _threads(hub):
    """Yields grove_thread values: main, the hub loop, then every live spawned thread."""
    yield hub["main"]
    if int(hub["loop"]) != 0:
        yield hub["loop"].dereference()
    ttype = gdb.lookup_type("struct grove_thread")
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
    if sp == 0:
        return []
    ptr = gdb.lookup_type("unsigned long")
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


def _describe(pc):
    block = None
    try:
        block = gdb.block_for_pc(pc)
    except RuntimeError:
        pass
    fn = None
    while block is not None and fn is None:
        fn = block.function
        block = block.superblock
    sal = gdb.find_pc_line(pc)
    where = ""
    if sal.symtab is not None:
        where = " at %s:%d" % (sal.symtab.filename, sal.line)
    name = fn.print_name if fn is not None else (gdb.execute("info symbol %#x" % pc, to_string=True).split(" in ")[0].strip())
    return "%#x in %s%s" % (pc, name, where)


class Grove(gdb.Command):
    """Grove green threads: grove threads | grove bt ID | grove bt all"""

    def __init__(self):
        super().__init__("grove", gdb.COMMAND_USER, prefix=True)


class GroveThreads(gdb.Command):
    """List the green threads of the current OS thread's hub."""

    def __init__(self):
        super().__init__("grove threads", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        hub = _hub()
        cur = int(hub["current"])
        n = 0
        for t in _threads(hub):
            state = "running" if int(t.address) == cur else STATES.get(int(t["state"]), "?")
            if int(t["is_hub"]) and int(t.address) != cur:
                state = "idle"   # the loop's own state field is not maintained
            what = ""
            if state == "parked" and int(t["wait_what"]) != 0:
                what = " waiting on %s" % t["wait_what"].string()
            kind = " [main]" if int(t["is_main"]) else (" [hub]" if int(t["is_hub"]) else "")
            print("  %-6d %-32s %-8s%s%s" % (int(t["id"]), _name(t), state, what, kind))
            n += 1
        print("grove: %d green threads (main and hub included)" % n)


class GroveBt(gdb.Command):
    """Backtrace of a green thread: grove bt ID | grove bt all"""

    def __init__(self):
        super().__init__("grove bt", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        hub = _hub()
        want = arg.strip()
        found = False
        for t in _threads(hub):
            if want != "all" and want != str(int(t["id"])):
                continue
            found = True
            print("green thread %d '%s':" % (int(t["id"]), _name(t)))
            pcs = _frames(t, hub)
            if pcs is None:
                print("  (running: this is the OS thread's own stack, see 'bt')")
                continue
            for i, pc in enumerate(pcs):
                print("  #%-2d %s" % (i, _describe(pc)))
        if not found:
            raise gdb.GdbError("grove: no green thread %s" % want)


Grove()
GroveThreads()
GroveBt()
