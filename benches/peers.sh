#!/usr/bin/env bash
# pods against its peers on one generated DATA_DIR, interleaved: first snapshot, unchanged
# re-snapshot, snapshot after a 2 % mutation, restore into an empty folder. Wall time, user/sys
# CPU and peak RSS (GNU time), repository size (du). Prints medians over reps and pods/peer ratios.
#
# Usage: benches/peers.sh [REPS] [tool ...]          (REPS default 3)
#   tools: pods restic borg tarzstd cpa   (default)   also: rustic bup casync git gitlfs
# env:
#   BD       work root (default /tmp/pods-peers): dataset cache, work/, logs/, results/
#   SIZE_MB  dataset size (1024)   FILES  file count (20000)   SEED  generator seed (1)
#   GEN, MUT generator / mutator scripts (default ../shared/bench/{gen,mutate}_datadir.py
#            relative to the repository root)
#   PODS     pods binary (default target/release/pods; built with cargo if missing)
#   PODS_REV free text naming the source of $PODS, copied into the report (e.g. a commit)
#   RUSTIC   rustic binary (default: `rustic` on PATH; it is never installed by this script)
#   MUT_SEED (2), MUT_PCT (2), VERIFY (1: check every restore against DATA on rep 1)
#   OUTCSV   raw rows (default $BD/results/peers-<UTC time>.csv; the report goes next to it as .md)
#
# Each rep: fresh `cp -a` of the dataset to $BD/work/data (the DATA_DIR every tool sees, same
# absolute path), page cache warmed (cat of every file), then each phase runs every tool one after
# another in an order rotated by rep, with an untimed `sync` after each command:
#   snap1 -> snap2_nochange -> mutate (untimed, once) -> snap3_mut2pct -> restore (of the latest)
# Missing packages (restic borgbackup zstd time b3sum bup casync git-lfs) are installed with apt
# when running as root and a requested tool needs them.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HERE=$ROOT/benches

REPS=3
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then REPS=$1; shift; fi
TOOLS=("$@"); [ ${#TOOLS[@]} -eq 0 ] && TOOLS=(pods restic borg tarzstd cpa)
ALL_TOOLS=" pods restic rustic borg bup casync git gitlfs tarzstd cpa "
for t in "${TOOLS[@]}"; do
  [[ $ALL_TOOLS == *" $t "* ]] || { echo "unknown tool '$t' (known:$ALL_TOOLS)" >&2; exit 2; }
done

export BD=${BD:-/tmp/pods-peers}
SIZE_MB=${SIZE_MB:-1024}; FILES=${FILES:-20000}; SEED=${SEED:-1}
GEN=${GEN:-$ROOT/../shared/bench/gen_datadir.py}
MUT=${MUT:-$ROOT/../shared/bench/mutate_datadir.py}
MUT_SEED=${MUT_SEED:-2}; MUT_PCT=${MUT_PCT:-2}; VERIFY=${VERIFY:-1}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUTCSV=${OUTCSV:-$BD/results/peers-$STAMP.csv}
REPORT=${OUTCSV%.csv}.md
export DATA=$BD/work/data
export REPOS=$BD/work/repos
export RESTORE=$BD/work/restore
LOGS=$BD/logs
DS=$BD/ds-$SIZE_MB-$FILES-$SEED
mkdir -p "$BD/results" "$(dirname "$OUTCSV")" "$BD/work/tmp" "$LOGS"

die() { echo "peers.sh: $*" >&2; exit 1; }

# ---------- prerequisites ----------
APT_UPDATED=0
need() {  # need COMMAND PACKAGE: install PACKAGE with apt when COMMAND is missing
  command -v "$1" > /dev/null 2>&1 && return 0
  [ "$(id -u)" = 0 ] || die "'$1' is missing; install the '$2' package (or run as root)"
  echo "installing $2 (for $1)"
  if [ $APT_UPDATED = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq > "$LOGS/apt-update.log" 2>&1 || die "apt-get update failed ($LOGS/apt-update.log)"
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" > "$LOGS/apt-$2.log" 2>&1 || die "apt-get install $2 failed ($LOGS/apt-$2.log)"
  command -v "$1" > /dev/null 2>&1 || die "'$1' still missing after installing $2"
}
[ -x /usr/bin/time ] || { need /usr/bin/time time; }
command -v python3 > /dev/null || die "python3 is required"
[ -f "$MUT" ] || die "mutator not found: $MUT (set MUT)"
if command -v b3sum > /dev/null 2>&1; then HASH=b3sum; else HASH=sha256sum; fi
for t in "${TOOLS[@]}"; do
  case $t in
    restic) need restic restic ;;
    borg) need borg borgbackup ;;
    tarzstd) need zstd zstd; need tar tar ;;
    bup) need bup bup ;;
    casync) need casync casync ;;
    git) need git git ;;
    gitlfs) need git git; need git-lfs git-lfs ;;
    rustic) RUSTIC=${RUSTIC:-$(command -v rustic || true)}
            [ -n "$RUSTIC" ] && [ -x "$RUSTIC" ] || die "rustic not found: set RUSTIC (e.g. cargo install rustic-rs --locked)" ;;
    pods)
      if [ -z "${PODS:-}" ]; then
        PODS=$ROOT/target/release/pods
        if [ ! -x "$PODS" ]; then
          echo "building $PODS (cargo build --release -p pods-cli)"
          (cd "$ROOT" && cargo build --release -p pods-cli) > "$LOGS/cargo-build.log" 2>&1 || die "cargo build failed ($LOGS/cargo-build.log)"
        fi
      fi
      PODS=$(realpath "$PODS"); [ -x "$PODS" ] || die "pods binary not found: $PODS" ;;
  esac
done
export PODS=${PODS:-} RUSTIC=${RUSTIC:-}

# ---------- dataset ----------
if [ ! -d "$DS" ]; then
  [ -f "$GEN" ] || die "generator not found: $GEN (set GEN)"
  echo "generating $DS ($SIZE_MB MB, $FILES files, seed $SEED)"
  rm -rf "$DS.partial"
  python3 "$GEN" "$DS.partial" --size-mb "$SIZE_MB" --files "$FILES" --seed "$SEED" > "$LOGS/gen.log" 2>&1 || die "generator failed ($LOGS/gen.log)"
  mv "$DS.partial" "$DS"
fi
SRC=$(realpath "$DS")
DS_BYTES=$(find "$SRC" -type f -printf '%s\n' | awk '{s+=$1} END{print s+0}')
DS_FILES=$(find "$SRC" -type f | wc -l)

# ---------- per-tool commands: <tool>_init / <tool>_snap N / <tool>_restore OUT / <tool>_root OUT ----------
# Peers: the exact commands of ../shared/bench/run_peers.sh. <tool>_root prints where the restored
# DATA_DIR is inside OUT (the tools nest it differently).
export RESTIC_PASSWORD=benchpass RUSTIC_PASSWORD=benchpass
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
export BORG_BASE_DIR=$BD/work/borgbase XDG_CACHE_HOME=$BD/work/cache
export GIT_AUTHOR_NAME=b GIT_AUTHOR_EMAIL=b@b GIT_COMMITTER_NAME=b GIT_COMMITTER_EMAIL=b@b

# pods: POD_HOME = $REPOS/pods; the first push creates the pod on the embedded remote
# ($REPOS/pods/remote.git). Restore, like the peers' restore from their repository, pulls
# into the empty folder with the same POD_HOME (the store has every pack). With
# PODS_RESTORE=clone it uses a fresh POD_HOME instead (defined untimed in
# pods_prepare_restore), so the timed pull also downloads every pack through git.
PODS_RHOME=$BD/work/pods-restore-home
PODS_RESTORE=${PODS_RESTORE:-local}
export PODS_RHOME PODS_RESTORE
pods_init()    { mkdir -p $REPOS/pods; }
pods_snap()    { "$PODS" --home $REPOS/pods --data-dir "$DATA" push bench -m "s$1"; }
pods_prepare_restore() {
  if [ "$PODS_RESTORE" = clone ]; then rm -rf "$PODS_RHOME" && "$PODS" --home "$PODS_RHOME" create bench --url $REPOS/pods/remote.git; fi
}
pods_restore() {
  if [ "$PODS_RESTORE" = clone ]; then "$PODS" --home "$PODS_RHOME" --data-dir "$1" pull bench
  else "$PODS" --home $REPOS/pods --data-dir "$1" pull bench; fi
}
pods_root()    { echo "$1"; }
# Only pods brings a folder at the previous version up to date in place (the peers restore
# into an empty folder): pods_update is timed on a folder pulled before the mutation.
pods_update()  { "$PODS" --home $REPOS/pods --data-dir "$1" pull bench; }
restic_init()  { restic -r $REPOS/restic init --repository-version 2 -q; }
restic_snap()  { restic -r $REPOS/restic backup --compression auto -q --host bench "$DATA"; }
restic_restore() { restic -r $REPOS/restic restore latest --target "$1" -q; }
restic_root()  { echo "$1$DATA"; }
rustic_init()  { $RUSTIC -r $REPOS/rustic init; }
rustic_snap()  { $RUSTIC -r $REPOS/rustic backup --host bench "$DATA"; }
rustic_restore() { $RUSTIC -r $REPOS/rustic restore latest "$1"; }
rustic_root()  { if [ -d "$1$DATA" ]; then echo "$1$DATA"; else echo "$1"; fi; }
borg_init()    { borg init -e none $REPOS/borg; }
borg_snap()    { borg create --compression zstd,3 $REPOS/borg::s$1 "$DATA"; }
borg_restore() { (cd "$1" && borg extract $REPOS/borg::$(borg list --short --last 1 $REPOS/borg)); }
borg_root()    { echo "$1$DATA"; }
bup_init()     { BUP_DIR=$REPOS/bup bup init -q 2>/dev/null || BUP_DIR=$REPOS/bup bup init; }
bup_snap()     { BUP_DIR=$REPOS/bup bup index "$DATA" && BUP_DIR=$REPOS/bup bup save -q -n main "$DATA"; }
bup_restore()  { BUP_DIR=$REPOS/bup bup restore -q -C "$1" "/main/latest$DATA/"; }
bup_root()     { echo "$1"; }
# casync --cache is not used: with it, the post-mutation index failed to extract (EBADMSG)
casync_init()  { mkdir -p $REPOS/casync/store $REPOS/casync/idx; }
casync_snap()  { casync make --compression=zstd --store=$REPOS/casync/store $REPOS/casync/idx/s$1.caidx "$DATA"; }
casync_restore() { casync extract --store=$REPOS/casync/store $(ls $REPOS/casync/idx/*.caidx | sort -V | tail -1) "$1/data"; }
casync_root()  { echo "$1/data"; }
# plain git, no gc (gc.auto 0 / maintenance.auto false: a background auto-gc disturbs the next tool)
git_init()     { git init -q --bare $REPOS/git && git --git-dir=$REPOS/git config core.bare false &&
                 git --git-dir=$REPOS/git config gc.auto 0 && git --git-dir=$REPOS/git config maintenance.auto false; }
git_snap()     { git --git-dir=$REPOS/git --work-tree="$DATA" add -A && git --git-dir=$REPOS/git --work-tree="$DATA" commit -q --allow-empty -m "s$1"; }
git_restore()  { GIT_INDEX_FILE=$BD/work/tmp/ridx git --git-dir=$REPOS/git --work-tree="$1" read-tree HEAD && GIT_INDEX_FILE=$BD/work/tmp/ridx git --git-dir=$REPOS/git --work-tree="$1" checkout-index -a -f; rm -f $BD/work/tmp/ridx; }
git_root()     { echo "$1"; }
# git + git-lfs: *.sqlite, s3/** and logs/** go to LFS (attributes in $GIT_DIR/info, not in DATA_DIR)
gitlfs_init()  { git init -q --bare $REPOS/gitlfs && git --git-dir=$REPOS/gitlfs config core.bare false &&
                 git --git-dir=$REPOS/gitlfs config gc.auto 0 && git --git-dir=$REPOS/gitlfs config maintenance.auto false &&
                 git --git-dir=$REPOS/gitlfs --work-tree="$DATA" lfs install --local >/dev/null &&
                 mkdir -p $REPOS/gitlfs/info && printf '%s\n' '*.sqlite filter=lfs diff=lfs merge=lfs -text' 's3/** filter=lfs diff=lfs merge=lfs -text' 'logs/** filter=lfs diff=lfs merge=lfs -text' > $REPOS/gitlfs/info/attributes; }
gitlfs_snap()  { (cd "$DATA" && git --git-dir=$REPOS/gitlfs --work-tree="$DATA" add -A && git --git-dir=$REPOS/gitlfs --work-tree="$DATA" commit -q --allow-empty -m "s$1"); }
gitlfs_restore() { (cd "$1" && GIT_INDEX_FILE=$BD/work/tmp/lidx git --git-dir=$REPOS/gitlfs --work-tree="$1" read-tree HEAD && GIT_INDEX_FILE=$BD/work/tmp/lidx git --git-dir=$REPOS/gitlfs --work-tree="$1" checkout-index -a -f); rm -f $BD/work/tmp/lidx; }
gitlfs_root()  { echo "$1"; }
tarzstd_init() { mkdir -p $REPOS/tarzstd; }
tarzstd_snap() { tar -C "$DATA" -cf - . | zstd -1 -T2 -q -o $REPOS/tarzstd/s$1.tar.zst; }
tarzstd_restore() { zstd -dc -q $(ls $REPOS/tarzstd/*.tar.zst | sort -V | tail -1) | tar -C "$1" -xf -; }
tarzstd_root() { echo "$1"; }
cpa_init()     { mkdir -p $REPOS/cpa; }
cpa_snap()     { cp -a "$DATA" $REPOS/cpa/s$1; }
cpa_restore()  { cp -a $(ls -d $REPOS/cpa/s* | sort -V | tail -1)/. "$1/"; }
cpa_root()     { echo "$1"; }
export -f $(compgen -A function | grep -E '_(init|snap|restore|prepare_restore|update)$')

# ---------- helpers ----------
warm() { find "$1" -type f -print0 | xargs -0 cat > /dev/null; }
# repo size: "apparent_bytes,allocated_bytes,store_only_apparent_bytes" (store only: pods)
reposize() {
  if [ "$1" = pods ]; then
    local parts=() p
    for p in store remote.git; do [ -e "$REPOS/pods/$p" ] && parts+=("$REPOS/pods/$p"); done
    [ ${#parts[@]} -eq 0 ] && { echo ",,"; return; }
    local st=""; [ -e "$REPOS/pods/store" ] && st=$(du -sb "$REPOS/pods/store" | cut -f1)
    echo "$(du -sbc "${parts[@]}" | tail -1 | cut -f1),$(du -s -B1 -c "${parts[@]}" | tail -1 | cut -f1),$st"
  elif [ -d "$REPOS/$1" ]; then
    echo "$(du -sb "$REPOS/$1" | cut -f1),$(du -sB1 "$REPOS/$1" | cut -f1),"
  else echo ",,"; fi
}
# measure REP TOOL PHASE CMD...  -> one CSV row (time excludes the `sync` that follows)
measure() {
  local rep=$1 tool=$2 phase=$3; shift 3
  local tf=$BD/work/tmp/time.$$ lf=$LOGS/${tool}_${phase}_r${rep}.log
  /usr/bin/time -f '%e %U %S %M' -o "$tf" bash -c "$*" > "$lf" 2>&1; local rc=$?
  local wall user sys rss
  read -r wall user sys rss < <(tail -1 "$tf")
  local size; size=$(reposize "$tool")
  local note=""
  # pods prints its own stage timings ("reading: 66.2 MiB in 0.5 s"): keep them in the note column
  [ "$tool" = pods ] && note=$(grep -E '^[a-z][a-z ]*: .* in [0-9.]+ m?s$' "$lf" | tr -d ',' | paste -sd'|' -)
  echo "$rep,$tool,$phase,$wall,$user,$sys,$rss,$size,$rc,$note" >> "$OUTCSV"
  printf '%-8s %-14s r%s wall=%7ss user=%6ss sys=%6ss rss=%8skB rc=%s repo=%s\n' "$tool" "$phase" "$rep" "$wall" "$user" "$sys" "$rss" "$rc" "$size"
  [ "$rc" = 0 ] || echo "  !! $tool $phase failed (rc=$rc), see $lf"
  sync
}
# content manifest: every directory, symlink and file (with its hash), sorted
manifest() {
  (cd "$1" && {
    find . -mindepth 1 -type d -printf 'dir %p\n'
    find . -type l -printf 'link %p -> %l\n'
    find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r $HASH | sed 's/^/file /'
  } | LC_ALL=C sort)
}
# metadata manifest: mode and whole-second mtime of every file
metamanifest() { (cd "$1" && find . -type f -printf '%m %T@ %p\n' | sed -E 's/^([0-7]+ [0-9]+)(\.[0-9]+)? /\1 /' | LC_ALL=C sort); }
rotate() { local k=$1; shift; local a=("$@") n=$# i; for ((i=0;i<n;i++)); do echo "${a[$(( (i+k)%n ))]}"; done; }

echo "rep,tool,phase,wall_s,user_s,sys_s,maxrss_kb,repo_apparent_b,repo_alloc_b,store_apparent_b,rc,note" > "$OUTCSV"

# ---------- machine and versions (for the report) ----------
META=${OUTCSV%.csv}.meta
ver() { "$@" 2>&1 | head -1; }
{
  echo "date: $(date -u '+%F %T UTC')"
  echo "machine: $(nproc) CPUs ($(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1); $(awk '/^cpu family/{f=$4} /^model\t/{m=$3} END{printf "family %s model %s", f, m}' /proc/cpuinfo)), $(free -g | awk '/^Mem:/{print $2}') GiB RAM, kernel $(uname -r), $(df -T "$BD" | awk 'NR==2{print $2}') at $BD"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "dataset: $SRC: $DS_BYTES bytes, $DS_FILES files (gen_datadir.py --size-mb $SIZE_MB --files $FILES --seed $SEED); mutation: mutate_datadir.py --seed $MUT_SEED --percent $MUT_PCT"
  echo "reps: $REPS; tools: ${TOOLS[*]}; verify hash: $HASH"
  for t in "${TOOLS[@]}"; do
    case $t in
      pods) echo "pods: $(ver "$PODS" --version) ($PODS, built $(date -u -r "$PODS" '+%F %T UTC')${PODS_REV:+ from $PODS_REV}; repo $ROOT at HEAD $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null)$(cd "$ROOT" && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] && echo ' + uncommitted changes'))" ;;
      restic) echo "restic: $(ver restic version)" ;;
      rustic) echo "rustic: $(ver $RUSTIC --version)" ;;
      borg) echo "borg: $(ver borg --version)" ;;
      bup) echo "bup: $(ver bup --version)" ;;
      casync) echo "casync: $(ver casync --version)" ;;
      git) echo "git: $(ver git --version)" ;;
      gitlfs) echo "git-lfs: $(ver git lfs version)" ;;
      tarzstd) echo "tarzstd: $(ver tar --version) | $(ver zstd --version)" ;;
      cpa) echo "cpa: $(ver cp --version)" ;;
    esac
  done
} > "$META"
cat "$META"
echo "raw rows: $OUTCSV"

# ---------- the runs ----------
for ((rep=1; rep<=REPS; rep++)); do
  echo "=== rep $rep/$REPS $(date -u +%T)"
  rm -rf "$DATA" "$REPOS" "$RESTORE" "$PODS_RHOME" "$BD/work/borgbase" "$BD/work/cache"
  mkdir -p "$REPOS" "$RESTORE"
  cp -a "$SRC" "$DATA"; sync; warm "$DATA"
  mapfile -t ORDER < <(rotate $((rep-1)) "${TOOLS[@]}")
  echo "order: ${ORDER[*]}"
  for t in "${ORDER[@]}"; do ${t}_init > "$LOGS/${t}_init_r$rep.log" 2>&1 || echo "  !! init failed: $t (see $LOGS/${t}_init_r$rep.log)"; done
  for t in "${ORDER[@]}"; do measure $rep $t snap1 ${t}_snap 1; done
  for t in "${ORDER[@]}"; do measure $rep $t snap2_nochange ${t}_snap 2; done
  for t in "${ORDER[@]}"; do
    if declare -F ${t}_update > /dev/null; then
      mkdir -p "$BD/work/prev/$t"; ${t}_restore "$BD/work/prev/$t" > "$LOGS/${t}_prev_r$rep.log" 2>&1 || echo "  !! $t: pulling the previous version failed"
    fi
  done
  measure $rep mutate mutate "python3 '$MUT' '$DATA' --seed $MUT_SEED --percent $MUT_PCT"
  warm "$DATA"
  for t in "${ORDER[@]}"; do measure $rep $t snap3_mut2pct ${t}_snap 3; done
  for t in "${ORDER[@]}"; do
    if declare -F ${t}_update > /dev/null; then sync; measure $rep $t update_mut2pct ${t}_update "$BD/work/prev/$t"; fi
  done
  rm -rf "$BD/work/prev"
  if [ "$VERIFY" = 1 ] && [ $rep = 1 ]; then
    manifest "$DATA" > "$BD/work/tmp/expect.manifest"; metamanifest "$DATA" > "$BD/work/tmp/expect.meta"
  fi
  for t in "${ORDER[@]}"; do
    rm -rf "$RESTORE"; mkdir -p "$RESTORE/$t"
    if declare -F ${t}_prepare_restore > /dev/null; then
      ${t}_prepare_restore > "$LOGS/${t}_prepare_restore_r$rep.log" 2>&1 || echo "  !! restore preparation failed: $t"
    fi
    sync
    measure $rep $t restore ${t}_restore "$RESTORE/$t"
    if [ "$VERIFY" = 1 ] && [ $rep = 1 ]; then
      r=$(${t}_root "$RESTORE/$t")
      manifest "$r" > "$BD/work/tmp/got.manifest"
      if cmp -s "$BD/work/tmp/expect.manifest" "$BD/work/tmp/got.manifest"; then
        metamanifest "$r" > "$BD/work/tmp/got.meta"
        nmeta=$(diff "$BD/work/tmp/expect.meta" "$BD/work/tmp/got.meta" | grep -c '^>')
        note="ok"; [ "$nmeta" -gt 0 ] && note="ok (content; mode or mtime differs on $nmeta files)"
        echo "verify $t: $note"; echo "$rep,$t,verify,,,,,,,,0,$note" >> "$OUTCSV"
      else
        diff "$BD/work/tmp/expect.manifest" "$BD/work/tmp/got.manifest" > "$LOGS/${t}_verify.diff"
        nm=$(grep -c '^<' "$LOGS/${t}_verify.diff"); ne=$(grep -c '^>' "$LOGS/${t}_verify.diff")
        nd=$(grep -c '^< dir ' "$LOGS/${t}_verify.diff")
        if [ "$ne" = 0 ] && [ "$nd" = "$nm" ]; then note="files ok; $nd empty directories not restored"
        else note="MISMATCH ($nm expected entries missing or different; $ne unexpected; see ${t}_verify.diff in logs)"; fi
        echo "verify $t: $note"; echo "$rep,$t,verify,,,,,,,,1,$note" >> "$OUTCSV"
      fi
    fi
    rm -rf "$RESTORE" "$PODS_RHOME"; sync
  done
  rm -rf "$REPOS"
done
echo "=== done $(date -u +%T)"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg) (a load above the CPU count means something else competed for the CPUs)" >> "$META"
rm -rf "$DATA" "$REPOS" "$RESTORE" "$PODS_RHOME"

python3 "$HERE/peers_summary.py" "$OUTCSV" "$META" | tee "$REPORT"
echo
echo "raw rows: $OUTCSV   report: $REPORT   logs: $LOGS"
