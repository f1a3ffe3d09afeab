#!/usr/bin/env bash
# Print the nftables table that forwards the LB's stand-in backend addresses to the real
# backends (DNAT: the destination changes; the source, the LB's, and the TCP options stay).
# Usage: lb-dnat.sh PORT STAND_IN=BACKEND...    (nft -f - to load it)
set -euo pipefail
port=$1
shift
echo 'table ip toa_lab {'
echo '  chain prerouting {'
echo '    type nat hook prerouting priority dstnat; policy accept;'
for pair in "$@"; do
  stand_in=${pair%%=*} real=${pair#*=}
  echo "    ip daddr $stand_in tcp dport $port dnat to $real:$port"
done
echo '  }'
echo '}'
