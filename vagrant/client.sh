#!/usr/bin/env bash
# Client VM: curl, and the VIP routed through the load-balancer VM.
# Usage: client.sh VIP LB_ADDR
set -euo pipefail
vip=$1 lb=$2

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends curl

cat >/etc/systemd/system/toa-lab-route.service <<UNIT
[Unit]
Description=toa lab: route the VIP via the load balancer VM
After=network-online.target
Wants=network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/ip route replace $vip/32 via $lb

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now toa-lab-route.service
echo "client: try  curl -s http://$vip/"
