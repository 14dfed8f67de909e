#!/usr/bin/env python3
"""Markdown report of a benches/peers.sh run: medians over reps and pods/peer ratios.

Usage: peers_summary.py RESULTS.csv [RUN.meta]

A median is flagged '~' (noisy) when (max - min) / median > 20 % across reps.
Ratios are pods / peer: below 1x pods is faster / smaller / leaner."""
import csv
import re
import statistics as st
import os
import sys
from collections import defaultdict

MiB = 1 << 20
PHASES = ("snap1", "snap2_nochange", "snap3_mut2pct", "update_mut2pct", "restore")


def noisy(vals):
    m = st.median(vals)
    return len(vals) > 1 and m > 0 and (max(vals) - min(vals)) / m > 0.20


def num(x):
    if x >= 100:
        return "%.0f" % x
    if x >= 10:
        return "%.1f" % x
    return "%.2f" % x


class Run:
    def __init__(self, path):
        self.rows = list(csv.DictReader(open(path)))
        self.by = defaultdict(list)
        self.verify = {}
        self.tools = []
        for r in self.rows:
            if r["phase"] == "verify":
                self.verify[r["tool"]] = r["note"]
                continue
            self.by[(r["tool"], r["phase"])].append(r)
            if r["tool"] != "mutate" and r["tool"] not in self.tools:
                self.tools.append(r["tool"])
        self.reps = len({r["rep"] for r in self.rows})

    def vals(self, tool, phase, key):
        return [float(r[key]) for r in self.by[(tool, phase)] if r[key] != ""]

    def cpu(self, tool, phase):
        return [float(r["user_s"]) + float(r["sys_s"]) for r in self.by[(tool, phase)] if r["user_s"] != ""]

    def size(self, tool, phase, key="repo_apparent_b"):
        return {r["rep"]: int(r[key]) for r in self.by[(tool, phase)] if r[key] != ""}

    def growth(self, tool, before, after, key="repo_apparent_b"):
        a, b = self.size(tool, before, key), self.size(tool, after, key)
        return [b[k] - a[k] for k in b if k in a]

    def failures(self, tool):
        return sum(1 for ph in PHASES for r in self.by[(tool, ph)] if r["rc"] != "0")


# Each metric: (label, unit, scale, function(run, tool) -> list of per-rep values)
def metrics(run, store_only=False):
    key = "store_apparent_b" if store_only else "repo_apparent_b"
    return [
        ("snap1 wall", "s", 1, lambda t: run.vals(t, "snap1", "wall_s")),
        ("snap1 CPU user+sys", "s", 1, lambda t: run.cpu(t, "snap1")),
        ("snap1 peak RSS", "MiB", 1024, lambda t: run.vals(t, "snap1", "maxrss_kb")),
        ("repo after snap1", "MiB", MiB, lambda t: list(run.size(t, "snap1", pods_key(t, key)).values())),
        ("snap2 (no change) wall", "s", 1, lambda t: run.vals(t, "snap2_nochange", "wall_s")),
        ("snap2 (no change) CPU", "s", 1, lambda t: run.cpu(t, "snap2_nochange")),
        ("snap2 repo growth", "KiB", 1024, lambda t: run.growth(t, "snap1", "snap2_nochange", pods_key(t, key))),
        ("snap3 (2 % mutated) wall", "s", 1, lambda t: run.vals(t, "snap3_mut2pct", "wall_s")),
        ("snap3 (2 % mutated) CPU", "s", 1, lambda t: run.cpu(t, "snap3_mut2pct")),
        ("snap3 repo growth", "MiB", MiB, lambda t: run.growth(t, "snap2_nochange", "snap3_mut2pct", pods_key(t, key))),
        ("repo after snap3", "MiB", MiB, lambda t: list(run.size(t, "snap3_mut2pct", pods_key(t, key)).values())),
        ("pull of the mutation into the previous version wall", "s", 1, lambda t: run.vals(t, "update_mut2pct", "wall_s")),
        ("restore wall", "s", 1, lambda t: run.vals(t, "restore", "wall_s")),
        ("restore CPU user", "s", 1, lambda t: run.vals(t, "restore", "user_s")),
        ("restore CPU sys", "s", 1, lambda t: run.vals(t, "restore", "sys_s")),
        ("restore peak RSS", "MiB", 1024, lambda t: run.vals(t, "restore", "maxrss_kb")),
    ]


def pods_key(tool, key):
    # the store-only figure exists for pods alone; peers always report their whole repository
    return key if tool == "pods" else "repo_apparent_b"


def cell(vals, scale):
    if not vals:
        return None, "-"
    m = st.median(vals) / scale
    return m, num(m) + (" ~" if noisy(vals) else "")


def ratio_table(run):
    peers = [t for t in run.tools if t != "pods"]
    have_pods = "pods" in run.tools
    if not have_pods:
        print("(pods was not run: no ratios)")
        print()
    print("| metric | " + " | ".join((["pods"] if have_pods else []) + peers) + " |")
    print("|---" * (1 + len(peers) + have_pods) + "|")
    rows = metrics(run)
    # pods: store alone as an extra row after each repo-size row
    store_rows = {label: m for label, m in zip([m[0] for m in rows], metrics(run, store_only=True))}
    out = []
    for label, unit, scale, f in rows:
        out.append((label + " " + unit + (" (pods: store + remote.git)" if "repo" in label and have_pods else ""), scale, f, f))
        if "repo" in label and have_pods:
            s = store_rows[label]
            out.append((label + " " + unit + " (pods: store only)", scale, s[3], f))
    for label, scale, fpods, fpeer in out:
        pm, ps = cell(fpods("pods"), scale) if have_pods else (None, "")
        cells = [ps] if have_pods else []
        for t in peers:
            m, s = cell(fpeer(t), scale)
            if have_pods and m is not None and pm is not None:
                if m > 0:
                    s += " (%.2f×)" % (pm / m)
                elif pm == 0:
                    s += " (=)"
                else:
                    s += " (n/a)"
            cells.append(s)
        print("| %s | %s |" % (label, " | ".join(cells)))
    print("| restore verified (rep 1) | " + " | ".join(run.verify.get(t, "-") for t in ([("pods")] if have_pods else []) + peers) + " |")
    print("| commands failed (rc≠0) | " + " | ".join(str(run.failures(t)) for t in ([("pods")] if have_pods else []) + peers) + " |")


def one_liners(run):
    """'pods 4.1 s; restic 10.2 s (0.40×)' per phase."""
    if "pods" not in run.tools:
        return
    peers = [t for t in run.tools if t != "pods"]
    for phase, label in (("snap1", "snap1"), ("snap2_nochange", "snap2 no-change"),
                         ("snap3_mut2pct", "snap3 after 2 % mutation"), ("restore", "restore")):
        p = run.vals("pods", phase, "wall_s")
        if not p:
            continue
        pm = st.median(p)
        parts = ["pods %s s" % num(pm)]
        for t in peers:
            v = run.vals(t, phase, "wall_s")
            if v:
                m = st.median(v)
                parts.append("%s %s s (%s)" % (t, num(m), ("%.2f×" % (pm / m)) if m > 0 else "n/a"))
        print("- %s: %s" % (label, "; ".join(parts)))
    up, full = run.vals("pods", "update_mut2pct", "wall_s"), run.vals("pods", "restore", "wall_s")
    if up and full:
        print("- pull of the mutation into a folder at the previous version: pods %s s, %.2f× of its own "
              "restore into an empty folder (the mutation rewrites a few %% of the bytes)"
              % (num(st.median(up)), st.median(up) / st.median(full)))
    p1 = list(run.size("pods", "snap3_mut2pct").values())
    if p1:
        parts = ["pods %s MiB (store only %s MiB)" % (num(st.median(p1) / MiB),
                                                      num(st.median(list(run.size("pods", "snap3_mut2pct", "store_apparent_b").values()) or [0]) / MiB))]
        for t in peers:
            v = list(run.size(t, "snap3_mut2pct").values())
            if v:
                parts.append("%s %s MiB (%.2f×)" % (t, num(st.median(v) / MiB), st.median(p1) / st.median(v)))
        print("- repo after the 3 snapshots: %s" % "; ".join(parts))


STAGE = re.compile(r"^([a-z][a-z ]*): (.*) in ([0-9.]+) s$")


def pods_stages(run):
    """pods' own stage timings (its stderr lines 'reading: 1.0 GiB in 3.2 s'), median per phase."""
    if "pods" not in run.tools:
        return
    lines = []
    for ph in PHASES:
        rows = run.by[("pods", ph)]
        if not rows:
            continue
        stages = defaultdict(list)
        amount = {}
        for r in rows:
            for item in filter(None, r["note"].split("|")):
                m = STAGE.match(item.strip())
                if m:
                    stages[m.group(1)].append(float(m.group(3)))
                    amount[m.group(1)] = m.group(2)
        wall = st.median(run.vals("pods", ph, "wall_s"))
        parts = ["%s %s s (%s)" % (k, num(st.median(v)), amount[k]) for k, v in stages.items()]
        rest = wall - sum(st.median(v) for v in stages.values())
        parts.append("outside these stages (wall − their sum: start-up, git, index, state, fsync) %s s" % num(max(rest, 0)))
        lines.append("| %s | %s | %s |" % (ph, num(wall), "; ".join(parts)))
    print("pods' own stage timings, from its stderr (0.1 s resolution; pods prints no line for a stage that moved no bytes):")
    print()
    print("| phase | wall s | stages (median) |")
    print("|---|---|---|")
    print("\n".join(lines))


def raw(run):
    print("| tool | snap1 s | snap2 s | snap3 s | update s | restore s |")
    print("|---|---|---|---|---|---|")
    for t in run.tools:
        cells = ["/".join(r["wall_s"] for r in sorted(run.by[(t, ph)], key=lambda r: int(r["rep"]))) or "-" for ph in PHASES]
        print("| %s | %s |" % (t, " | ".join(cells)))
    m = run.vals("mutate", "mutate", "wall_s")
    if m:
        print()
        print("mutate_datadir.py itself (untimed for the tools): %s s per rep" % "/".join("%.2f" % x for x in m))


def main():
    run = Run(sys.argv[1])
    print("## pods vs peers: median of %d rep%s" % (run.reps, "" if run.reps == 1 else "s"))
    print()
    if len(sys.argv) > 2:
        for line in open(sys.argv[2]):
            print("- " + line.rstrip())
        print()
    print("Wall-clock seconds, median over reps; `~` = spread > 20 % of the median (noisy). "
          "Ratio in parentheses = pods / peer (< 1× : pods is faster, smaller or leaner). "
          "Repo size = `du -sb` (apparent bytes); pods = POD_HOME/store + POD_HOME/remote.git "
          "(the embedded remote; a push to a real remote would hold the remote.git part elsewhere). "
          "Restore: " + ("pods pulls from remote.git into a fresh POD_HOME, i.e. it also downloads and checks every pack."
                         if os.environ.get("PODS_RESTORE") == "clone" else
                         "pods pulls into the empty folder with the same POD_HOME, as the peers restore from their repository."))
    print()
    one_liners(run)
    print()
    ratio_table(run)
    print()
    pods_stages(run)
    print()
    print("Per-rep wall seconds (rep1/rep2/...):")
    print()
    raw(run)


if __name__ == "__main__":
    main()
