#!/usr/bin/env bash
# Peak memory (and time) of pods on a large folder: first push to the embedded remote, an
# unchanged push, and a pull into an empty folder, each under GNU time.
#
# Usage: benches/memory.sh [GIB]     (default 20)
# env:   BD (work root, default /tmp/pods-memory), PODS (default target/release/pods),
#        GEN (default ../shared/bench/gen_datadir.py)
#
# The folder: the 1 GiB reference folder (gen_datadir.py --size-mb 1024 --files 20000
# --seed 1) plus (GIB-1) x 1024 files of 1 MiB in folders of 256, each half random bytes
# and half hex text, all distinct: nothing deduplicates, and zstd has real work. The folder is
# removed before the pull, so a run needs about 2.7 x GIB GiB of disk at its peak (folder,
# store and remote; then store, remote and the pulled copy), checked first; it is made
# again, byte for byte the same (seeded), by each run.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GIB=${1:-20}
BD=${BD:-/tmp/pods-memory}
PODS=${PODS:-$ROOT/target/release/pods}
GEN=${GEN:-$ROOT/../shared/bench/gen_datadir.py}
DATA=$BD/data-$GIB
[ -x "$PODS" ] || (cd "$ROOT" && cargo build --release --locked -p pods-cli)
[ -x /usr/bin/time ] || { echo "GNU time is missing: apt-get install time" >&2; exit 1; }

mkdir -p "$BD"
rm -rf "$BD/home" "$BD/restore" "$DATA"
need_gib=$(( GIB * 27 / 10 + 1 ))
free_gib=$(( $(df -Pk "$BD" | awk 'NR==2{print $4}') / 1048576 ))
[ "$free_gib" -ge "$need_gib" ] || { echo "$BD has $free_gib GiB free; this run needs about $need_gib GiB (pick another BD or a smaller GIB)" >&2; exit 1; }

echo "generating $DATA ($GIB GiB)"
rm -rf "$DATA.partial"
python3 "$GEN" "$DATA.partial/reference" --size-mb 1024 --files 20000 --seed 1 > /dev/null
python3 - "$DATA.partial/bulk" "$((GIB - 1))" <<'EOF'
import os, random, sys
out, gib = sys.argv[1], int(sys.argv[2])
for n in range(gib * 1024):
    folder = os.path.join(out, f"{n // 256:04d}")
    os.makedirs(folder, exist_ok=True)
    bytes_of = random.Random(n).randbytes
    with open(os.path.join(folder, f"{n:06d}.bin"), "wb") as f:
        f.write(bytes_of(512 << 10))
        f.write(bytes_of(256 << 10).hex().encode())
EOF
mv "$DATA.partial" "$DATA"
echo "folder: $(du -sh --apparent-size "$DATA" | cut -f1), $(find "$DATA" -type f | wc -l) files; pods $("$PODS" --version)"

measure() {
  local what=$1; shift
  /usr/bin/time -f "$what: %e s wall, %U s user, %S s sys, peak RSS %M KiB" -o "$BD/time" "$@" > "$BD/$what.log" 2>&1
  cat "$BD/time"
}
measure "first push" "$PODS" --home "$BD/home" --data-dir "$DATA" push big
measure "unchanged push" "$PODS" --home "$BD/home" --data-dir "$DATA" push big
rm -rf "$DATA"
mkdir -p "$BD/restore"
measure "pull into an empty folder" "$PODS" --home "$BD/home" --data-dir "$BD/restore" pull big
echo "pulled: $(du -sh --apparent-size "$BD/restore" | cut -f1), $(find "$BD/restore" -type f | wc -l) files"
echo "store: $(du -sh "$BD/home/store" | cut -f1), remote: $(du -sh "$BD/home/remote.git" | cut -f1)"
rm -rf "$BD/home" "$BD/restore"
