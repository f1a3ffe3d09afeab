#!/usr/bin/env bash
# Backend VM: toa.ko by DKMS (rebuilt for every kernel the VM installs later), loaded at boot
# trusting only the load balancer's source address, and a Node server on PORT that answers with
# the peer address it sees (getpeername: the client's, once toa.ko has read the TOA).
# Usage: backend.sh LB_ADDR LB_LOCAL PORT
set -euo pipefail
lb=$1 lb_local=$2 port=$3

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends dkms make gcc "linux-headers-$(uname -r)" nodejs

# `make dkms-install`: kmod/ to /usr/src/toa-VERSION, dkms add, build, install.
make -C /toa dkms-install
echo "options toa trust=$lb_local/32" >/etc/modprobe.d/toa.conf
echo toa >/etc/modules-load.d/toa.conf
modprobe -r toa 2>/dev/null || true
modprobe toa

# Replies to the LB's source address go back through the LB (it is not on this network).
cat >/etc/systemd/system/toa-lab-route.service <<UNIT
[Unit]
Description=toa lab: route the load balancer's source address via the LB VM
After=network-online.target
Wants=network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/ip route replace $lb_local/32 via $lb

[Install]
WantedBy=multi-user.target
UNIT

install -d /opt/toa-lab
install -m 0644 /toa/vagrant/whoami.mjs /opt/toa-lab/whoami.mjs
cat >/etc/systemd/system/toa-whoami.service <<UNIT
[Unit]
Description=toa lab: HTTP server answering with the client address it sees
After=network-online.target

[Service]
ExecStart=/usr/bin/node /opt/toa-lab/whoami.mjs $port
DynamicUser=yes
Restart=on-failure

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now toa-lab-route.service toa-whoami.service
systemctl restart toa-whoami.service
echo "backend: toa.ko $(cat /sys/module/toa/version 2>/dev/null || echo loaded), trust $(cat /sys/module/toa/parameters/trust)"
