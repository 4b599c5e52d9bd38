# A FUSE filesystem that never answers: mounts /dev/fuse at argv[1] and never reads the fd, so
# every lookup/stat/open below the mount point blocks in the kernel (an unresponsive NFS or FUSE
# mount, as a container may hold one). Prints "ready" once mounted; exits when stdin closes or on
# SIGTERM/SIGKILL — closing /dev/fuse aborts the connection and stuck syscalls fail with ENOTCONN.
# Needs root (CAP_SYS_ADMIN) and /dev/fuse.
import ctypes, ctypes.util, os, sys

target = sys.argv[1]
fd = os.open("/dev/fuse", os.O_RDWR)
libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
opts = f"fd={fd},rootmode=40000,user_id=0,group_id=0".encode()
if libc.mount(b"hung", target.encode(), b"fuse", 0, opts) != 0:
    e = ctypes.get_errno()
    sys.stderr.write(f"mount failed: {os.strerror(e)}\n")
    sys.exit(1)
sys.stdout.write("ready\n")
sys.stdout.flush()
sys.stdin.read()  # hold /dev/fuse open, never serving a request, until the test is done
