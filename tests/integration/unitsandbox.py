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
  RestrictAddressFamilies=
                        socket(2) of any other family fails with
                        EAFNOSUPPORT (seccomp, python3-seccomp)
  MemoryDenyWriteExecute=yes
                        mmap(2), mprotect(2) and pkey_mprotect(2) asking for
                        PROT_WRITE|PROT_EXEC fail with EPERM (seccomp)
  NoNewPrivileges=yes, CapabilityBoundingSet=
                        setpriv(1) --no-new-privs, an empty bounding set
                        and no inheritable capabilities

and says on stderr which settings it does not apply (the rest of the
systemd-only ones: SystemCallFilter=, PrivateTmp=, PrivateDevices=,
ProtectKernel*=, ...). Exits 70 when the unit asks for one it cannot
apply that changes what the command may do to files or sockets.
"""

import errno
import os
import subprocess
import sys

import seccomp

NOBODY = 65534
FAMILIES = {"AF_UNIX": 1, "AF_LOCAL": 1, "AF_INET": 2, "AF_INET6": 10, "AF_NETLINK": 16, "AF_PACKET": 17}
AF_MAX = 46
PROT_WRITE, PROT_EXEC = 0x2, 0x4
APPLIED = {"User", "Group", "StateDirectory", "StateDirectoryMode", "ProtectSystem", "ProtectHome", "UMask",
           "RestrictAddressFamilies", "MemoryDenyWriteExecute", "NoNewPrivileges", "CapabilityBoundingSet",
           "AmbientCapabilities"}
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

    # seccomp: the address families and W^X
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

    if "UMask" in last:
        os.umask(int(last["UMask"], 8))
    setpriv = ["setpriv"]
    if "User" in last:
        setpriv += ["--reuid", str(NOBODY), "--regid", str(NOBODY), "--clear-groups"]
    if last.get("NoNewPrivileges") in ("yes", "true"):
        setpriv.append("--no-new-privs")
    if "CapabilityBoundingSet" in last and not last["CapabilityBoundingSet"]:
        setpriv += ["--bounding-set", "-all", "--inh-caps", "-all"]
    if skipped:
        print(f"unitsandbox: not applied: {' '.join(sorted(set(skipped)))}", file=sys.stderr)
    sys.stderr.flush()
    f.load()
    os.execvp(setpriv[0], setpriv + ["--"] + argv)


if __name__ == "__main__":
    sys.exit(main())
