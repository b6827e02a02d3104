#!/usr/bin/env bash
# Starts a three-master dm cluster on this machine (client ports 8261-8263, peer ports 8291-8293),
# data in ./dm-data/m1..m3, logs in ./dm-data/m*.log. Stop it with: scripts/local-cluster.sh stop
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${DM_BIN:-target/release/dm}
mkdir -p dm-data

if [ "${1:-start}" = "stop" ]; then
  for i in 1 2 3; do
    if [ -f "dm-data/m$i.pid" ]; then kill "$(cat "dm-data/m$i.pid")" 2>/dev/null || true; rm -f "dm-data/m$i.pid"; fi
  done
  exit 0
fi

[ -x "$BIN" ] || cargo build --release
INITIAL="m1=http://127.0.0.1:8291,m2=http://127.0.0.1:8292,m3=http://127.0.0.1:8293"
for i in 1 2 3; do
  "$BIN" master --name "m$i" \
    --master-addr "127.0.0.1:826$i" --peer-urls "http://127.0.0.1:829$i" \
    --initial-cluster "$INITIAL" --data-dir "dm-data/m$i" \
    --log-file "dm-data/m$i.log" &
  echo $! > "dm-data/m$i.pid"
done
echo "started m1..m3; try: $BIN ctl --master-addr 127.0.0.1:8261,127.0.0.1:8262,127.0.0.1:8263 list-member"
