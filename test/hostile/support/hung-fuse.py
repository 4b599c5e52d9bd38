#!/usr/bin/env python3
# A FUSE filesystem that never answers: it mounts /dev/fuse at TARGET and then never reads the
# device, so the kernel's INIT request and every later request (lookup, getattr, open, readdir)
# stay pending and the caller's syscall blocks until the mount is torn down (umount -l plus this
# process exiting aborts the connection and fails the waiters with ENOTCONN).
# Usage: hung-fuse.py TARGET   (needs root; prints "mounted" once mount(2) returned). On SIGTERM it
# detaches the mount (umount2 MNT_DETACH) and exits; the kernel then aborts the connection.
import ctypes
import os
import signal
import sys

target = sys.argv[1]
fd = os.open("/dev/fuse", os.O_RDWR)
libc = ctypes.CDLL(None, use_errno=True)
opts = f"fd={fd},rootmode=40000,user_id=0,group_id=0".encode()
if libc.mount(b"hungfuse", target.encode(), b"fuse", 0, opts) != 0:
    err = ctypes.get_errno()
    sys.stderr.write(f"hung-fuse: mount {target}: {os.strerror(err)}\n")
    sys.exit(2)
print("mounted", flush=True)
MNT_DETACH = 2


def stop(*_):
    libc.umount2(target.encode(), MNT_DETACH)
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
while True:
    signal.pause()
