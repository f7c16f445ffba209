"""``python3 -m tests``: install what the suite needs, then run the whole suite.

Works on a fresh machine with nothing but Python: it installs Debian's redis-server, redis-tools,
redis-sentinel, memcached and libmemcached-tools (the interop tests' oracles and the benchmark
baselines) when they are missing and this user may run apt-get, installs cachesrv with its test
extra, and runs pytest with any arguments given (``python3 -m tests -k strings -x``).
Only the standard library is used here, because nothing else is installed yet.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEBIAN_PACKAGES = ["redis-server", "redis-tools", "redis-sentinel", "memcached", "libmemcached-tools"]
BINARIES = ["redis-server", "redis-cli", "redis-benchmark", "redis-sentinel", "memcached"]


def run(cmd: list[str], **kw) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)


def install_debian_packages() -> None:
    missing = [b for b in BINARIES if shutil.which(b) is None]
    if not missing:
        return
    apt = shutil.which("apt-get")
    if apt is None:
        print(f"note: {', '.join(missing)} missing and no apt-get here: interop tests will skip", flush=True)
        return
    prefix: list[str] = []
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            print(f"note: {', '.join(missing)} missing and not root: interop tests will skip", flush=True)
            return
        prefix = ["sudo", "-n"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # Keep the packages' own services from starting (they would take ports 6379 and 11211).
    policy = Path("/usr/sbin/policy-rc.d")
    made_policy = False
    if os.geteuid() == 0 and not policy.exists():
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        made_policy = True
    try:
        run(prefix + [apt, "-qq", "update"], env=env)
        run(prefix + [apt, "-qq", "install", "-y", "--no-install-recommends", *DEBIAN_PACKAGES], env=env)
    finally:
        if made_policy:
            policy.unlink()


def install_python_packages() -> None:
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    run([sys.executable, "-m", "pip", "install", "-q", "-e", f"{ROOT}[test]"], env=env)


def main() -> int:
    install_debian_packages()
    install_python_packages()
    args = sys.argv[1:] or ["-q"]
    return subprocess.call([sys.executable, "-m", "pytest", *args], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main())
