#!/usr/bin/python3
"""Run a command under the sandbox a systemd service unit asks for, where
systemd is not PID 1 to apply it (a test machine, a container).

usage: unshare --mount --propagation private \\
           /usr/bin/python3 unitsandbox.py UNIT STATE -- ARGV...

Run as root, in a mount namespace of its own (unshare(1) makes it). From
the unit's [Service] section it applies:

  StateDirectory=NAME   STATE mounted at /var/lib/NAME (on a tmpfs over
                        /var/lib), owned by the user below
  ProtectSystem=strict  every other mount remounted read-only
  ProtectHome=yes       an empty read-only tmpfs over /home and /root
  User=, Group=         uid and gid 65534 (nobody): the unit's user need
                        not exist here
  UMask=                the umask
  PrivateMounts=yes     the mount namespace unshare(1) made
  RestrictAddressFamilies=
                        socket(2) of any other family fails with
                        EAFNOSUPPORT (seccomp, python3-seccomp)
  MemoryDenyWriteExecute=yes
                        mmap(2), mprotect(2) and pkey_mprotect(2) asking for
                        PROT_WRITE|PROT_EXEC fail with EPERM (seccomp)
  NoNewPrivileges=yes   prctl(PR_SET_NO_NEW_PRIVS)
  CapabilityBoundingSet=
                        every capability dropped from the bounding set
  SystemCallFilter=, SystemCallErrorNumber=
                        an allow list of system calls (seccomp), the groups
                        expanded as `systemd-analyze syscall-filter` lists
                        them, @default always allowed, as systemd does;
                        the others fail with the error number

in the order systemd applies them (the system call filter last, just
before exec), and says on stderr which settings it does not apply (the
rest of the systemd-only ones: PrivateTmp=, PrivateDevices=,
ProtectKernel*=, ...). Exits 70 when the unit asks for one it cannot
apply.
"""

import ctypes
import errno
import os
import subprocess
import sys

import seccomp  # python3-seccomp

NOBODY = 65534
FAMILIES = {"AF_UNIX": 1, "AF_LOCAL": 1, "AF_INET": 2, "AF_INET6": 10, "AF_NETLINK": 16, "AF_PACKET": 17}
AF_MAX = 46
PROT_WRITE, PROT_EXEC = 0x2, 0x4
APPLIED = {"User", "Group", "StateDirectory", "StateDirectoryMode", "ProtectSystem", "ProtectHome", "UMask",
           "RestrictAddressFamilies", "MemoryDenyWriteExecute", "NoNewPrivileges", "CapabilityBoundingSet",
           "AmbientCapabilities", "SystemCallFilter", "SystemCallErrorNumber",
           "PrivateMounts"}  # unshare(1) gives the mount namespace
PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP = 38, 24
# what only decides how systemd starts, stops and restarts it
NOT_SANDBOX = {"Type", "ExecStart", "Restart", "RestartSec", "TimeoutStopSec"}


def service_settings(path):
    """The unit's [Service] settings: NAME -> its values, one a line (a
    setting given twice accumulates, as systemd's lists do)."""
    out, section = {}, None
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = line
            elif section == "[Service]" and "=" in line:
                k, v = line.split("=", 1)
                out[k.strip()] = out[k.strip()] + "\n" + v.strip() if k.strip() in out else v.strip()
    return out


def syscall_groups():
    """systemd's groups of system calls: NAME -> members (calls and @groups)."""
    out = subprocess.run(["systemd-analyze", "syscall-filter"], check=True, capture_output=True,
                         text=True).stdout
    groups, cur = {}, None
    for line in out.splitlines():
        if line.startswith("@"):
            cur = groups.setdefault(line.strip(), [])
        elif cur is not None and line.strip() and not line.strip().startswith("#"):
            cur.append(line.strip())
    return groups


def expand(names, groups):
    """The system calls NAMES stand for, groups expanded."""
    calls = set()
    for n in names:
        if n.startswith("@"):
            if n not in groups:
                raise SystemExit(f"unitsandbox: systemd knows no group {n}")
            calls |= expand(groups[n], groups)
        else:
            calls.add(n)
    return calls


def allowed_calls(lines):
    """The allow list of SystemCallFilter= LINES (an allow list first, then
    lines with ~ that take calls out), with @default, which systemd always
    allows."""
    groups = syscall_groups()
    allow = None
    for line in lines:
        deny = line.startswith("~")
        names = line.lstrip("~").split()
        if allow is None:
            if deny:
                raise SystemExit("unitsandbox: only an allow list (its first line without ~) is applied")
            allow = set()
        allow = allow - expand(names, groups) if deny else allow | expand(names, groups)
    return allow | expand(["@default"], groups)


def sh(*argv):
    subprocess.run(argv, check=True)


def mounts():
    out = subprocess.run(["findmnt", "-rno", "TARGET"], check=True, capture_output=True, text=True).stdout
    return [m.encode().decode("unicode_escape") for m in out.split()]


def main():
    if len(sys.argv) < 5 or sys.argv[3] != "--":
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 64
    unit, state, argv = sys.argv[1], os.path.abspath(sys.argv[2]), sys.argv[4:]
    s = service_settings(unit)
    last = {k: v.split("\n")[-1].strip() for k, v in s.items()}
    skipped = sorted(k for k in s if k not in APPLIED and k not in NOT_SANDBOX)

    # StateDirectory=: STATE at /var/lib/NAME, owned by the user
    name = last.get("StateDirectory")
    keep_rw = []
    if name:
        sh("mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/var/lib")
        target = f"/var/lib/{name}"
        os.mkdir(target)
        sh("mount", "--bind", state, target)
        os.chown(state, NOBODY, NOBODY)
        os.chmod(state, int(last.get("StateDirectoryMode", "0755"), 8))
        keep_rw.append(target)
    # ProtectHome=yes: nothing of the homes is seen
    if last.get("ProtectHome") in ("yes", "true"):
        for home in ("/home", "/root"):
            if os.path.isdir(home):
                sh("mount", "-t", "tmpfs", "-o", "ro,mode=0755", "tmpfs", home)
    # ProtectSystem=strict: every mount read-only but the state directory
    # (and the kernel's /proc, /sys and /dev, which are not files to write)
    if last.get("ProtectSystem") == "strict":
        for m in mounts():
            if m in keep_rw or m.split("/")[1:2] in (["proc"], ["sys"], ["dev"]):
                continue
            r = subprocess.run(["mount", "-o", "remount,bind,ro", m], capture_output=True)
            if r.returncode != 0 and m == "/":
                print(f"unitsandbox: cannot make / read-only: {r.stderr.decode().strip()}", file=sys.stderr)
                return 70
    elif "ProtectSystem" in last:
        skipped.append("ProtectSystem")

    # the user, no capabilities, no new privileges
    libc = ctypes.CDLL(None, use_errno=True)
    if "CapabilityBoundingSet" in last and not last["CapabilityBoundingSet"]:
        with open("/proc/sys/kernel/cap_last_cap", encoding="ascii") as f:
            for cap in range(int(f.read()) + 1):
                if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                    print(f"unitsandbox: cannot drop capability {cap}", file=sys.stderr)
                    return 70
    if "User" in last:
        os.setgroups([])
        os.setresgid(NOBODY, NOBODY, NOBODY)
        os.setresuid(NOBODY, NOBODY, NOBODY)
    if "UMask" in last:
        os.umask(int(last["UMask"], 8))
    if last.get("NoNewPrivileges") in ("yes", "true") or "SystemCallFilter" in last:
        libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)

    # seccomp, last: the filter of system calls (default: the error
    # number), and one of the address families and W^X (default: allow);
    # the kernel takes the stricter answer of the two
    filters = []
    if "SystemCallFilter" in last:
        err = getattr(errno, last.get("SystemCallErrorNumber", "EPERM"))
        f = seccomp.SyscallFilter(defaction=seccomp.ERRNO(err))
        for call in sorted(allowed_calls(s["SystemCallFilter"].split("\n"))):
            try:
                f.add_rule(seccomp.ALLOW, call)
            except (RuntimeError, ValueError, OSError):
                pass  # a call of another architecture, or one libseccomp does not know
        filters.append(f)
    f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    if "RestrictAddressFamilies" in last:
        allowed = set()
        for line in s["RestrictAddressFamilies"].split("\n"):
            for fam in line.split():
                if fam not in FAMILIES:
                    print(f"unitsandbox: unknown family {fam}", file=sys.stderr)
                    return 70
                allowed.add(FAMILIES[fam])
        for fam in range(AF_MAX):
            if fam not in allowed:
                f.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), "socket", seccomp.Arg(0, seccomp.EQ, fam))
    if last.get("MemoryDenyWriteExecute") in ("yes", "true"):
        wx = PROT_WRITE | PROT_EXEC
        f.add_rule(seccomp.ERRNO(errno.EPERM), "mmap", seccomp.Arg(2, seccomp.MASKED_EQ, wx, wx))
        # as systemd does: no mapping both, and no page made executable later
        for call in ("mprotect", "pkey_mprotect"):
            f.add_rule(seccomp.ERRNO(errno.EPERM), call, seccomp.Arg(2, seccomp.MASKED_EQ, PROT_EXEC, PROT_EXEC))
    filters.append(f)
    if skipped:
        print(f"unitsandbox: not applied: {' '.join(sorted(set(skipped)))}", file=sys.stderr)
    sys.stderr.flush()
    for f in reversed(filters):  # the allow list last: it does not allow seccomp(2)
        f.load()
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    sys.exit(main())
