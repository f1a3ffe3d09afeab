#!/usr/bin/env bash
# Load-balancer VM: the lab's userspace FullNAT LB (`toa lab lb`, src/lab) as a service. Its
# client-facing TUN device gets the VIP routed to it; its backend-facing TUN device holds a
# stand-in address per backend, which this VM forwards (DNAT) to the real backend. The packets
# keep the LB's source address and the TOA the LB put in them.
# Usage: lb.sh VIP LB_LOCAL PORT STAND_IN=BACKEND...
set -euo pipefail
vip=$1 lb_local=$2 port=$3
shift 3

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends nodejs npm make gcc g++ python3 iproute2 nftables

cat >/etc/sysctl.d/90-toa-lab.conf <<CONF
net.ipv4.ip_forward = 1
# Loose: replies come back on the TUN devices the LB writes to, not on the NIC.
net.ipv4.conf.all.rp_filter = 2
net.ipv4.conf.default.rp_filter = 2
CONF
sysctl -q --system

# The toolkit, from the copy of the repository (npm ci: node_modules for this VM's Node).
cd /toa
npm ci --no-audit --no-fund
npm run build

backends=()
for pair in "$@"; do backends+=(--backend "${pair%%=*}:$port"); done
/toa/vagrant/lb-dnat.sh "$port" "$@" >/etc/toa-lab-dnat.nft

cat >/etc/systemd/system/toa-lab-lb.service <<UNIT
[Unit]
Description=toa lab: userspace FullNAT load balancer inserting TOA
After=network-online.target
Wants=network-online.target

[Service]
ExecStartPre=-/usr/sbin/nft delete table ip toa_lab
ExecStartPre=/usr/sbin/nft -f /etc/toa-lab-dnat.nft
ExecStart=/usr/bin/node /toa/bin/toa.js lab lb --vip $vip:80 ${backends[*]} --local $lb_local --client-dev toalbc --backend-dev toalbb --log
ExecStopPost=-/usr/sbin/nft delete table ip toa_lab
Restart=on-failure

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable toa-lab-lb.service
systemctl restart toa-lab-lb.service
echo "lb: VIP $vip:80 -> ${*}"
