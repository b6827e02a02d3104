#!/usr/bin/env bash
# Starts a three-master dm cluster and two workers on this machine: masters on client ports
# 8261/8361/8461 and peer ports 8291/8391/8491, workers w1/w2 on 8262/8263 (DM's default worker
# port). Data in ./dm-data/m1..m3, logs in ./dm-data/*.log. Stop it with: scripts/local-cluster.sh stop
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${DM_BIN:-target/release/dm}
mkdir -p dm-data

if [ "${1:-start}" = "stop" ]; then
  for p in w1 w2 m1 m2 m3; do
    if [ -f "dm-data/$p.pid" ]; then kill "$(cat "dm-data/$p.pid")" 2>/dev/null || true; rm -f "dm-data/$p.pid"; fi
  done
  exit 0
fi

[ -x "$BIN" ] || cargo build --release
INITIAL="m1=http://127.0.0.1:8291,m2=http://127.0.0.1:8391,m3=http://127.0.0.1:8491"
MASTERS="127.0.0.1:8261,127.0.0.1:8361,127.0.0.1:8461"
for i in 1 2 3; do
  "$BIN" master --name "m$i" \
    --master-addr "127.0.0.1:8$((i + 1))61" --peer-urls "http://127.0.0.1:8$((i + 1))91" \
    --initial-cluster "$INITIAL" --data-dir "dm-data/m$i" \
    --log-file "dm-data/m$i.log" &
  echo $! > "dm-data/m$i.pid"
done
for i in 1 2; do
  "$BIN" worker --name "w$i" --worker-addr "127.0.0.1:826$((i + 1))" --join "$MASTERS" \
    --log-file "dm-data/w$i.log" &
  echo $! > "dm-data/w$i.pid"
done
echo "started m1..m3, w1, w2; try: $BIN ctl --master-addr $MASTERS list-member"
