"""The RuntimeDefault seccomp profile, and Localhost profiles read from the agent's seccomp dir.

RuntimeDefault is an allowlist: every system call not named here fails with EPERM. The
list is equivalent in effect to the default profile Docker, containerd and CRI-O apply:
ordinary process, file, memory, time, network and IPC calls are allowed; calls that reach
the kernel as a whole (modules, kexec, keyrings, swap, reboot, mount, new namespaces,
BPF, perf, handle-based opens) are refused unless the container holds the capability
that makes them meaningful. `profile()` renders the OCI `linux.seccomp` object for one
container's capability set on this machine's architecture.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

EPERM, ENOSYS = 1, 38
DEFAULT_DIR = Path("/var/lib/pyctl-agent/seccomp")

# Native and compat ABIs per machine: a 64-bit kernel also runs 32-bit binaries, so the
# filter has to cover their syscall numbers too.
ARCHES = {
    "x86_64": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "aarch64": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
}

# Names runc does not know for an architecture are skipped, so one list serves every ABI
# (open/stat exist on x86_64 only; aarch64 has only the *at variants).
_FILES = """
    access chmod chown chown32 close close_range copy_file_range creat dup dup2 dup3
    faccessat faccessat2 fadvise64 fadvise64_64 fallocate fchdir chdir fchmod fchmodat fchmodat2
    fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock fremovexattr
    fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 getcwd
    getdents getdents64 getxattr inotify_add_watch inotify_init inotify_init1 inotify_rm_watch
    ioctl lchown lchown32 lgetxattr link linkat listxattr llistxattr lremovexattr lseek _llseek
    lsetxattr lstat lstat64 mkdir mkdirat mknod mknodat newfstatat open openat openat2 pipe pipe2
    pread64 preadv preadv2 pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv
    removexattr rename renameat renameat2 rmdir sendfile sendfile64 setxattr splice stat stat64
    statfs statfs64 statx symlink symlinkat sync sync_file_range syncfs tee truncate truncate64
    umask unlink unlinkat utime utimensat utimensat_time64 utimes futimesat vmsplice write writev
"""
_MEMORY = """
    brk futex futex_time64 futex_waitv get_robust_list madvise membarrier memfd_create mincore
    mlock mlock2 mlockall mmap mmap2 mprotect mremap msync munlock munlockall munmap
    pkey_alloc pkey_free pkey_mprotect remap_file_pages rseq set_robust_list
"""
_PROCESS = """
    capget capset execve execveat exit exit_group fork vfork getcpu getegid getegid32 geteuid
    geteuid32 getgid getgid32 getgroups getgroups32 getpgid getpgrp getpid getppid getpriority
    getresgid getresgid32 getresuid getresuid32 getrlimit getrusage getsid gettid getuid getuid32
    ioprio_get ioprio_set kill landlock_add_rule landlock_create_ruleset landlock_restrict_self
    pidfd_open pidfd_send_signal prctl prlimit64 restart_syscall rt_sigaction rt_sigpending
    rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait
    rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_get_priority_max sched_get_priority_min
    sched_getaffinity sched_getattr sched_getparam sched_getscheduler sched_rr_get_interval
    sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam
    sched_setscheduler sched_yield seccomp set_tid_address setfsgid setfsgid32 setfsuid
    setfsuid32 setgid setgid32 setgroups setgroups32 setpgid setpriority setregid setregid32
    setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit setsid setuid
    setuid32 sigaltstack signalfd signalfd4 sigreturn tgkill tkill times ugetrlimit uname
    sysinfo wait4 waitid waitpid
"""
_TIME_AND_EVENTS = """
    adjtimex alarm clock_getres clock_getres_time64 clock_gettime clock_gettime64
    clock_nanosleep clock_nanosleep_time64 epoll_create epoll_create1 epoll_ctl epoll_ctl_old
    epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2 getitimer gettimeofday
    io_cancel io_destroy io_getevents io_pgetevents io_pgetevents_time64 io_setup io_submit
    nanosleep pause poll ppoll ppoll_time64 pselect6 pselect6_time64 select _newselect setitimer
    time timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64
    timer_settime timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64
    timerfd_settime timerfd_settime64 getrandom
"""
_NETWORK_AND_IPC = """
    accept accept4 bind connect getpeername getsockname getsockopt listen recv recvfrom
    recvmmsg recvmmsg_time64 recvmsg send sendmmsg sendmsg sendto setsockopt shutdown socket
    socketcall socketpair ipc mq_getsetattr mq_notify mq_open mq_timedreceive
    mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink msgctl msgget msgrcv
    msgsnd semctl semget semop semtimedop semtimedop_time64 shmat shmctl shmdt shmget
"""
ALWAYS = sorted(set(" ".join([_FILES, _MEMORY, _PROCESS, _TIME_AND_EVENTS, _NETWORK_AND_IPC]).split()))

# Calls only some ABIs have; listed apart so the profile names only what the machine runs.
BY_ARCH = {
    "x86_64": ["arch_prctl", "map_shadow_stack", "modify_ldt"],
    "aarch64": ["arm_fadvise64_64", "arm_sync_file_range", "breakpoint", "cacheflush",
                "set_tls", "sync_file_range2"],
}

# Calls a capability unlocks: without it the kernel would refuse them anyway, or they are
# the capability's whole point. A container holding the capability gets them.
BY_CAPABILITY = {
    "CAP_SYS_ADMIN": ["bpf", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
                      "lookup_dcookie", "mount", "mount_setattr", "move_mount", "name_to_handle_at",
                      "open_tree", "perf_event_open", "pivot_root", "quotactl", "quotactl_fd",
                      "setdomainname", "sethostname", "setns", "umount", "umount2", "unshare"],
    "CAP_SYS_BOOT": ["reboot"],
    "CAP_SYS_CHROOT": ["chroot"],
    "CAP_SYS_MODULE": ["delete_module", "finit_module", "init_module"],
    "CAP_SYS_PACCT": ["acct"],
    "CAP_SYS_PTRACE": ["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv",
                       "process_vm_writev", "ptrace"],
    "CAP_SYS_RAWIO": ["ioperm", "iopl"],
    "CAP_SYS_TIME": ["clock_adjtime", "clock_adjtime64", "clock_settime", "clock_settime64",
                     "settimeofday", "stime"],
    "CAP_SYS_TTY_CONFIG": ["vhangup"],
    "CAP_SYS_NICE": ["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"],
    "CAP_SYSLOG": ["syslog"],
    "CAP_BPF": ["bpf"],
    "CAP_PERFMON": ["perf_event_open"],
    "CAP_DAC_READ_SEARCH": ["open_by_handle_at"],
}
# Never listed, whatever the capabilities: kexec_load kexec_file_load keyctl add_key
# request_key swapon swapoff userfaultfd uselib ustat sysfs _sysctl vm86 vm86old nfsservctl
# create_module get_kernel_syms query_module io_uring_setup io_uring_enter io_uring_register.

# Every CLONE_NEW* flag: clone may create threads and processes, not namespaces.
CLONE_NAMESPACE_FLAGS = 0x7E020000
# personality(): the Linux personality, its 32-bit variant, UNAME26 and the query value.
PERSONALITIES = [0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF]


class ProfileError(Exception):
    """A Localhost profile that cannot be used; the message is the container's error."""


def machine() -> str:
    m = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(m, m)


def _kernel_at_least(major: int, minor: int, release: str | None = None) -> bool:
    parts = (release or platform.release()).split(".")
    try:
        return (int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0)) >= (major, minor)
    except (IndexError, ValueError):
        return True


def profile(caps: list[str], arch: str | None = None, kernel: str | None = None) -> dict[str, Any]:
    """The OCI linux.seccomp object of RuntimeDefault for a container with `caps` (bounding)."""
    arch = arch or machine()
    names = set(ALWAYS) | set(BY_ARCH.get(arch, []))
    held = set(caps)
    for cap, calls in BY_CAPABILITY.items():
        if cap in held:
            names.update(calls)
    # Before 4.8 a traced process could skip its seccomp filter, so these needed the cap.
    if _kernel_at_least(4, 8, kernel):
        names.update(("ptrace", "process_vm_readv", "process_vm_writev"))
    rules: list[dict[str, Any]] = [{"names": sorted(names), "action": "SCMP_ACT_ALLOW"}]
    # Conditions within one rule are ANDed: one rule per allowed value.
    rules += [{"names": ["personality"], "action": "SCMP_ACT_ALLOW",
               "args": [{"index": 0, "value": v, "op": "SCMP_CMP_EQ"}]} for v in PERSONALITIES]
    if "CAP_SYS_ADMIN" in held:
        rules.append({"names": ["clone"], "action": "SCMP_ACT_ALLOW"})
    else:
        # clone's flags are argument 0 on x86_64 and aarch64. clone3 passes them in memory a
        # filter cannot read: ENOSYS makes libc fall back to clone, which is checked.
        rules.append({"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [
            {"index": 0, "value": CLONE_NAMESPACE_FLAGS, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]})
        rules.append({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS})
    out: dict[str, Any] = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": EPERM,
                           "syscalls": rules}
    if arch in ARCHES:
        out["architectures"] = list(ARCHES[arch])
    return out


def localhost(seccomp_dir: Path, name: str) -> dict[str, Any]:
    """A profile the node's administrator put under `seccomp_dir`, in OCI linux.seccomp form."""
    rel = Path(name)
    if not name or rel.is_absolute() or ".." in rel.parts:
        raise ProfileError(f"invalid localhostProfile {name!r}: must be a relative path without '..'")
    path = seccomp_dir / rel
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ProfileError(f'cannot load seccomp profile "{path}": no such file') from None
    except (OSError, ValueError) as e:
        raise ProfileError(f'cannot load seccomp profile "{path}": {e}') from None
    if not isinstance(data, dict) or not isinstance(data.get("defaultAction"), str):
        raise ProfileError(f'cannot load seccomp profile "{path}": no defaultAction')
    keep = ("defaultAction", "defaultErrnoRet", "architectures", "flags", "syscalls")
    return {k: data[k] for k in keep if k in data}


def for_container(security: dict[str, Any], caps: list[str], privileged: bool,
                  seccomp_dir: Path) -> dict[str, Any] | None:
    """linux.seccomp for a container, or None for unconfined.

    `security` is the effective seccompProfile (container over pod). Unset means
    RuntimeDefault: secure by default. Privileged containers run unconfined, as in Kubernetes.
    """
    if privileged:
        return None
    kind = security.get("type") or "RuntimeDefault"
    if kind == "Unconfined":
        return None
    if kind == "Localhost":
        return localhost(seccomp_dir, str(security.get("localhostProfile") or ""))
    if kind == "RuntimeDefault":
        return profile(caps)
    raise ProfileError(f"unknown seccompProfile type {kind!r}")
