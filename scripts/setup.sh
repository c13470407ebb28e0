#!/usr/bin/env bash
# setup.sh — install everything sofs and its tests need on a fresh Debian 12 machine (run as root).
# Idempotent. Creates .venv in the repo root with the `sofs` command in it.
#   - Debian packages: Samba 4.22 (smbd, smbclient, smbtorture) from bookworm-backports, etcd,
#     attr (xattr tools), iproute2 (ip netns), nodejs/npm (for the Azurite emulator in tests),
#     Ceph 16.2 (ceph-mon/-osd/-mds/-mgr, ceph-common, libcephfs2) for `--storage ceph` clusters
#     and their tests. sofs reaches CephFS through libcephfs.so.2 with ctypes (sofs/vfs/cephlib.py),
#     not through Debian's python3-cephfs, which is built for /usr/bin/python3 only (and gives
#     whole-second timestamps): so the venv can come from any CPython >= 3.11 and needs no
#     system site-packages.
#     bind9 + dnsutils (tests run a private BIND 9 for RFC 2136 updates and query with dig)
#   - Python venv with sofs installed editable plus the test extras
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

need_apt=0
command -v smbtorture >/dev/null && smbtorture --version 2>/dev/null | grep -q '4\.2[2-9]' || need_apt=1
for b in smbclient etcd getfattr ip named dig nsupdate; do command -v "$b" >/dev/null || need_apt=1; done
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt=1
for b in ceph-mon ceph-osd ceph-mds ceph-mgr ceph monmaptool; do command -v "$b" >/dev/null || need_apt=1; done
ldconfig -p 2>/dev/null | grep -q 'libcephfs\.so\.2 ' || need_apt=1
/usr/bin/python3 -c 'import smbc' 2>/dev/null || need_apt=1  # bench/smbc_write.py (libsmbclient writers)
if [ "$need_apt" = 1 ]; then
  if [ "$(id -u)" != 0 ]; then echo "setup.sh: run as root (apt-get needed)" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q python3 python3-venv attr iproute2 etcd-server etcd-client ca-certificates \
    bind9 dnsutils >/dev/null
  apt-get install -y -q ceph-mon ceph-osd ceph-mds ceph-mgr ceph-common libcephfs2 >/dev/null
  bash "$ROOT/scripts/install-samba.sh"
  apt-get install -y -q python3-smbc >/dev/null  # after Samba: its libsmbclient is the backports one
  # The packages start system smbd/nmbd (0.0.0.0:445) and etcd services where systemd runs; sofs needs
  # none of them (tests start private instances) and a system smbd would hold port 445 the demo uses.
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl disable --now smbd nmbd samba-ad-dc etcd named ceph.target ceph-mon.target ceph-osd.target \
      ceph-mds.target ceph-mgr.target >/dev/null 2>&1 || true
  fi
fi
# headless Chromium + its WebDriver (the dashboard test); Debian's packages
if { ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; } && [ "$(id -u)" = 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null; }
fi
# Active Directory (issue 18): MIT krb5 client tools and headers (python-gssapi builds against them),
# faketime (expired-ticket test), and Samba's AD DC (the tests provision a private domain controller)
need_ad=0
for b in kinit krb5-config faketime samba gcc; do command -v "$b" >/dev/null || need_ad=1; done
[ -e /usr/include/python3.11/Python.h ] || [ -n "$(ls /usr/include/python3*/Python.h 2>/dev/null)" ] || need_ad=1
if [ "$need_ad" = 1 ] && [ "$(id -u)" = 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q krb5-user libkrb5-dev gcc python3-dev faketime >/dev/null
  apt-get install -y -q -t bookworm-backports samba-ad-dc >/dev/null
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl disable --now samba-ad-dc >/dev/null 2>&1 || true
  fi
fi
# npm is optional (cloud-witness tests); install node only if missing and apt is usable
if ! command -v npm >/dev/null && [ "$(id -u)" = 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm >/dev/null 2>&1 || true
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/pip install -q -e ".[test,cluster,ad]"
echo "setup.sh: ready ($(.venv/bin/python --version), $(smbtorture --version 2>/dev/null | head -1))"
