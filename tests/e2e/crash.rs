//! kill -9 at every crash point of push and pull, and at random moments: the next run of
//! the same command completes and the result is right.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::Duration;

use crate::support::*;

fn dataset(root: &Path, seed: u64) {
    for i in 0..12u64 {
        let dir = root.join(format!("dir{}", i % 3));
        std::fs::create_dir_all(&dir).expect("dir");
        // Larger than a pack's target in total, so pushes close several packs.
        std::fs::write(dir.join(format!("file{i}")), noise(((i as usize % 4) + 1) << 20, seed + i)).expect("write");
        std::fs::write(dir.join(format!("small{i}.json")), format!("{{\"n\": {}}}", i + seed)).expect("write");
    }
}

fn killed(out: &std::process::Output) -> bool {
    out.status.signal() == Some(9)
}

const PUSH_POINTS: &[&str] = &[
    "pack-written",
    "index-saved",
    "push-before-remote",
    "push-packs-in-git",
    "push-after-git-push",
    "push-before-state",
];

/// Reached only when pushing to the embedded remote (packs mirrored during the snapshot).
const EMBEDDED_PUSH_POINTS: &[&str] = &["push-pack-mirrored"];

#[test]
fn push_survives_kill_at_every_point() {
    // Through `git push` (a bare repository) and written directly (the embedded remote).
    for embedded in [false, true] {
        let embedded_only = if embedded { EMBEDDED_PUSH_POINTS } else { &[] };
        for point in PUSH_POINTS.iter().chain(embedded_only) {
            let sandbox = Sandbox::new();
            let a = sandbox.folder("a");
            dataset(&a, 1);
            let pods = sandbox.pods("home", &a);
            let url = if embedded {
                sandbox.path("home/remote.git").to_str().expect("utf-8").to_string()
            } else {
                let remote = sandbox.bare_remote("remote.git");
                pods.ok(&["create", "p", "--url", remote.to_str().expect("utf-8")]);
                remote.to_str().expect("utf-8").to_string()
            };
            let out = pods.clone().with_env("PODS_TEST_CRASH_AT", point).run(&["push", "p"]);
            assert!(killed(&out), "push did not reach crash point {point}: {}", String::from_utf8_lossy(&out.stderr));
            let again = pods.json(&["push", "p"]);
            assert_eq!(again["version"], 1, "after a crash at {point}");
            pods.ok(&["verify"]);
            let b = sandbox.folder("b");
            let reader = sandbox.pods("home-b", &b);
            reader.ok(&["create", "p", "--url", &url]);
            reader.ok(&["pull", "p"]);
            assert_same_folder(&a, &b);
            git(&["--git-dir", &url, "fsck", "--strict", "--no-progress"]);
        }
    }
}

const PULL_POINTS: &[&str] = &[
    "fetch-received",
    "apply-dirs-created",
    "fetch-pack-imported",
    "fetch-history-copied",
    "index-saved",
    "pull-before-apply",
    "apply-removed",
    "apply-old-file-checked",
    "apply-file",
    "apply-file:7",
    "pull-before-state",
];

#[test]
fn pull_survives_kill_at_every_point() {
    let sandbox = Sandbox::new();
    let remote = sandbox.bare_remote("remote.git");
    let url = remote.to_str().expect("utf-8");
    let (v1, v2) = (sandbox.folder("v1"), sandbox.folder("v2"));
    dataset(&v1, 1);
    dataset(&v2, 2);
    std::fs::remove_dir_all(v2.join("dir2")).expect("remove");
    let writer = sandbox.pods("home-w", &v1);
    writer.ok(&["create", "p", "--url", url]);
    writer.ok(&["push", "p"]);
    let writer2 = sandbox.pods("home-w", &v2);
    writer2.ok(&["push", "p", "--force"]);
    for point in PULL_POINTS {
        let target = sandbox.folder(&format!("t-{point}"));
        let reader = sandbox.pods(&format!("home-{point}"), &target);
        reader.ok(&["create", "p", "--url", url]);
        // Fetch points, and the index save, are reached by the first pull, which
        // downloads the packs (a later pull has nothing new to index).
        let fetching = point.starts_with("fetch-") || *point == "index-saved";
        if fetching {
            let out = reader.clone().with_env("PODS_TEST_CRASH_AT", point).run(&["pull", "p@1"]);
            assert!(killed(&out), "pull did not reach crash point {point}: {}", String::from_utf8_lossy(&out.stderr));
        }
        reader.ok(&["pull", "p@1"]);
        assert_same_folder(&v1, &target);
        if !fetching {
            let out = reader.clone().with_env("PODS_TEST_CRASH_AT", point).run(&["pull", "p"]);
            assert!(killed(&out), "pull did not reach crash point {point}: {}", String::from_utf8_lossy(&out.stderr));
            // Every file is whole: either as in version 1 or as in version 2.
            for (path, entry) in listing(&target) {
                let rel = String::from_utf8(path).expect("utf-8");
                if let (Listed::File { content, .. }, false) = (entry, rel.contains(".pods-tmp-")) {
                    let old = std::fs::read(v1.join(&rel)).ok().map(|b| blake3::hash(&b));
                    let new = std::fs::read(v2.join(&rel)).ok().map(|b| blake3::hash(&b));
                    assert!(Some(content) == old || Some(content) == new, "torn file {rel} after a crash at {point}");
                }
            }
        }
        reader.ok(&["pull", "p"]);
        assert_same_folder(&v2, &target);
    }
}

/// Starts `args` and kills it (SIGKILL) after each delay in turn.
fn kill_after(pods: &Pods, args: &[&str], delays_ms: &[u64]) {
    for delay in delays_ms {
        let mut child = pods
            .command(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(*delay));
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[test]
fn kill_at_random_moments() {
    let sandbox = Sandbox::new();
    let remote = sandbox.bare_remote("remote.git");
    let url = remote.to_str().expect("utf-8");
    let a = sandbox.folder("a");
    dataset(&a, 3);
    let pods = sandbox.pods("home", &a);
    pods.ok(&["create", "p", "--url", url]);
    kill_after(&pods, &["push", "p"], &[20, 60, 150]);
    pods.ok(&["push", "p"]);
    let b = sandbox.folder("b");
    let reader = sandbox.pods("home-b", &b);
    reader.ok(&["create", "p", "--url", url]);
    kill_after(&reader, &["pull", "p"], &[20, 80, 200]);
    reader.ok(&["pull", "p"]);
    assert_same_folder(&a, &b);
}

#[test]
fn reset_and_undo_survive_kill_at_every_point() {
    for point in ["reset-backup-recorded", "reset-removed", "undo-before-state"] {
        let sandbox = Sandbox::new();
        let a = sandbox.folder("a");
        dataset(&a, 5);
        let before = listing(&a);
        let pods = sandbox.pods("home", &a);
        pods.ok(&["push", "p"]);
        if point.starts_with("reset") {
            let out = pods.clone().with_env("PODS_TEST_CRASH_AT", point).run(&["reset", "--yes"]);
            assert!(killed(&out), "reset did not reach {point}");
        }
        pods.ok(&["reset", "--yes"]);
        assert_eq!(std::fs::read_dir(&a).expect("list").count(), 0);
        if point == "undo-before-state" {
            let out = pods.clone().with_env("PODS_TEST_CRASH_AT", point).run(&["undo"]);
            assert!(killed(&out), "undo did not reach {point}");
        }
        pods.ok(&["undo"]);
        assert_eq!(listing(&a), before, "after a crash at {point}, undo must give the folder back");
        pods.ok(&["verify"]);
    }
}

#[test]
fn a_merging_push_survives_a_kill() {
    let sandbox = Sandbox::new();
    let remote = sandbox.bare_remote("remote.git");
    let url = remote.to_str().expect("utf-8");
    let (a, b) = (sandbox.folder("a"), sandbox.folder("b"));
    dataset(&a, 6);
    let (alice, bob) = (sandbox.pods("home-a", &a), sandbox.pods("home-b", &b));
    alice.ok(&["create", "p", "--url", url]);
    bob.ok(&["create", "p", "--url", url]);
    alice.ok(&["push", "p"]);
    bob.ok(&["pull", "p"]);
    std::fs::write(a.join("alice"), b"a").expect("write");
    alice.ok(&["push", "p"]);
    std::fs::write(b.join("bob"), b"b").expect("write");
    let out = bob.clone().with_env("PODS_TEST_CRASH_AT", "push-merged").run(&["push", "p"]);
    assert!(killed(&out), "the push did not merge: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(bob.json(&["push", "p"])["merged_as"], 4);
    bob.ok(&["pull", "p"]);
    alice.ok(&["pull", "p"]);
    assert_same_folder(&a, &b);
    git(&["--git-dir", url, "fsck", "--strict", "--no-progress"]);
}
