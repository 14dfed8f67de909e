//! Merging on pull and push between two homes and folders: turns, conflicts, undo, dry
//! runs, the reload hook, and two pushers racing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::support::*;

fn pair(sandbox: &Sandbox, url: &str, env: &[(&str, &str)]) -> (Pods, Pods) {
    let (a, b) = (sandbox.folder("a"), sandbox.folder("b"));
    let (mut alice, mut bob) = (sandbox.pods("home-a", &a), sandbox.pods("home-b", &b));
    for (k, v) in env {
        alice = alice.with_env(k, v);
        bob = bob.with_env(k, v);
    }
    alice.ok(&["create", "p", "--url", url]);
    bob.ok(&["create", "p", "--url", url]);
    (alice, bob)
}

#[test]
fn edit_push_pull_in_turns_over_ssh() {
    let sshd = Sshd::start();
    let sandbox = Sandbox::new();
    let remote = sandbox.bare_remote("remote.git");
    let ssh = sshd.ssh_command.clone();
    let (alice, bob) = pair(&sandbox, &sshd.url(&remote), &[("GIT_SSH_COMMAND", &ssh)]);
    std::fs::write(alice.data.join("shared.json"), b"{}").expect("write");
    alice.ok(&["push", "p"]);
    bob.ok(&["pull", "p"]);
    for round in 0..3 {
        // Each edits a different file; whoever pushes second merges.
        std::fs::write(alice.data.join(format!("alice-{round}")), format!("a{round}")).expect("write");
        std::fs::write(bob.data.join(format!("bob-{round}")), format!("b{round}")).expect("write");
        alice.ok(&["push", "p"]);
        bob.ok(&["push", "p"]);
        alice.ok(&["pull", "p"]);
        bob.ok(&["pull", "p"]);
        assert_same_folder(&alice.data, &bob.data);
        assert!(alice.data.join(format!("bob-{round}")).exists() && bob.data.join(format!("alice-{round}")).exists());
    }
}

#[test]
fn conflict_stops_the_pull_then_prefer_and_undo() {
    let sandbox = Sandbox::new();
    let remote = sandbox.bare_remote("remote.git");
    let (alice, bob) = pair(&sandbox, remote.to_str().expect("utf-8"), &[]);
    build(&alice.data, &[(b"config.json", Spec::File(b"v1", 0o644)), (b"gone.txt", Spec::File(b"x", 0o644))]);
    alice.ok(&["push", "p"]);
    bob.ok(&["pull", "p"]);
    std::fs::write(alice.data.join("config.json"), b"alice").expect("write");
    std::fs::remove_file(alice.data.join("gone.txt")).expect("rm");
    alice.ok(&["push", "p"]);
    std::fs::write(bob.data.join("config.json"), b"bob").expect("write");
    std::fs::write(bob.data.join("gone.txt"), b"bob kept editing").expect("write");
    std::fs::write(bob.data.join("notes"), b"bob's own").expect("write");

    let before = listing(&bob.data);
    let out = bob.run(&["pull", "p"]);
    assert_eq!(out.status.code(), Some(3), "a conflict exits with 3");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("config.json: you modified the file; the pod modified the file"), "{err}");
    assert!(err.contains("gone.txt: you modified the file; the pod deleted the file"), "{err}");
    assert_eq!(listing(&bob.data), before, "a stopped pull changed the folder");

    bob.ok(&["pull", "p", "--prefer", "theirs"]);
    assert_eq!(std::fs::read(bob.data.join("config.json")).expect("read"), b"alice");
    assert!(!bob.data.join("gone.txt").exists());
    assert_eq!(std::fs::read(bob.data.join("notes")).expect("read"), b"bob's own", "an unrelated local file survives");

    let backups = bob.json(&["undo", "--list"]);
    // The first pull filled an empty folder (nothing to keep); the stopped one changed nothing.
    assert_eq!(backups["backups"].as_array().map(Vec::len), Some(1), "one pull replaced something");
    bob.ok(&["undo"]);
    assert_eq!(listing(&bob.data), before, "undo must restore the folder byte for byte");
    // The sync state came back too: the same conflict is found again.
    assert_eq!(bob.run(&["pull", "p"]).status.code(), Some(3));
    bob.ok(&["pull", "p", "--prefer", "ours"]);
    assert_eq!(std::fs::read(bob.data.join("config.json")).expect("read"), b"bob");
}

/// Paths whose entry differs between two listings.
fn changed_paths(before: &BTreeMap<Vec<u8>, Listed>, after: &BTreeMap<Vec<u8>, Listed>) -> BTreeSet<String> {
    before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect()
}

#[test]
fn dry_run_predicts_exactly_what_the_pull_does() {
    let sandbox = Sandbox::new();
    let remote = sandbox.bare_remote("remote.git");
    let (alice, bob) = pair(&sandbox, remote.to_str().expect("utf-8"), &[]);
    build(
        &alice.data,
        &[
            (b"keep", Spec::File(b"same", 0o644)),
            (b"edit", Spec::File(b"old", 0o644)),
            (b"delete-me", Spec::File(b"bye", 0o644)),
            (b"to-dir", Spec::File(b"file now", 0o644)),
            (b"chmod", Spec::File(b"x", 0o644)),
            (b"tree/a", Spec::File(b"a", 0o644)),
            (b"tree/sub/b", Spec::File(b"b", 0o644)),
        ],
    );
    alice.ok(&["push", "p"]);
    bob.ok(&["pull", "p"]);
    std::fs::write(alice.data.join("edit"), b"new content").expect("write");
    std::fs::remove_file(alice.data.join("delete-me")).expect("rm");
    std::fs::remove_file(alice.data.join("to-dir")).expect("rm");
    build(
        &alice.data,
        &[
            (b"to-dir/inside", Spec::File(b"in", 0o644)),
            (b"new/deep/file", Spec::File(b"fresh", 0o600)),
            (b"tree/sub/c", Spec::File(b"c", 0o644)),
            (b"link", Spec::Symlink("keep")),
        ],
    );
    std::fs::set_permissions(alice.data.join("chmod"), std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    alice.ok(&["push", "p"]);
    std::fs::write(bob.data.join("bobs"), b"local").expect("write");

    let before = listing(&bob.data);
    let dry = bob.json(&["pull", "p", "--dry-run"]);
    assert_eq!(listing(&bob.data), before, "a dry run changed the folder");
    let planned: BTreeMap<String, String> = dry["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| (c["path"].as_str().expect("path").to_string(), c["action"].as_str().expect("action").to_string()))
        .collect();
    assert_eq!(planned.get("edit").map(String::as_str), Some("modified"));
    assert_eq!(planned.get("delete-me").map(String::as_str), Some("deleted"));
    assert_eq!(planned.get("to-dir").map(String::as_str), Some("type changed"));
    assert_eq!(planned.get("chmod").map(String::as_str), Some("mode changed"));
    assert_eq!(planned.get("new").map(String::as_str), Some("added"));
    assert_eq!(planned.get("link").map(String::as_str), Some("added"));
    assert!(!planned.contains_key("keep") && !planned.contains_key("bobs"));

    bob.ok(&["pull", "p"]);
    let changed = changed_paths(&before, &listing(&bob.data));
    let covered = |path: &str| {
        planned.keys().any(|p| p == path || (path.starts_with(&format!("{p}/")) && planned[p] != "directory metadata"))
    };
    for path in &changed {
        assert!(covered(path), "{path} changed but the dry run did not say so");
    }
    for path in planned.keys() {
        assert!(changed.contains(path), "the dry run announced {path}, the pull did not change it");
    }
}

#[test]
fn exec_runs_after_a_successful_pull() {
    let sandbox = Sandbox::new();
    let a = sandbox.folder("a");
    std::fs::write(a.join("f"), b"x").expect("write");
    let alice = sandbox.pods("home", &a);
    alice.ok(&["push", "p"]);
    let b = sandbox.folder("b");
    let bob = sandbox.pods("home", &b);
    let mark = sandbox.path("reloaded");
    let hook = format!("echo \"$POD_NAME $POD_VERSION $(cat \"$DATA_DIR/f\")\" > {}", mark.display());
    bob.ok(&["pull", "p", "--exec", &hook]);
    assert_eq!(std::fs::read_to_string(&mark).expect("hook ran").trim(), "p 1 x");
    let err = bob.fails(&["pull", "p", "--exec", "exit 7"]);
    assert!(err.contains("--exec command failed (exit status 7)"), "{err}");
    // A pod's own setting runs too.
    let c = sandbox.folder("c");
    let carol = sandbox.pods("home-c", &c);
    let mark2 = sandbox.path("reloaded2");
    let url = sandbox.path("home/remote.git");
    carol.ok(&["create", "p", "--url", url.to_str().expect("utf-8"), "--exec", &format!("touch {}", mark2.display())]);
    carol.ok(&["pull", "p"]);
    assert!(mark2.exists());
}

fn read_all(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry"))
        .filter(|e| e.file_type().expect("type").is_file())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).expect("read")))
        .collect()
}

#[test]
fn two_pushers_racing_lose_nothing() {
    let sandbox = Sandbox::new();
    let remote = sandbox.bare_remote("remote.git");
    let url = remote.to_str().expect("utf-8").to_string();
    let (alice, bob) = pair(&sandbox, &url, &[]);
    std::fs::write(alice.data.join("seed"), b"0").expect("write");
    alice.ok(&["push", "p"]);
    bob.ok(&["pull", "p"]);
    const ROUNDS: usize = 6;
    let racer = |pods: Pods, who: &'static str| {
        std::thread::spawn(move || {
            let mut versions = Vec::new();
            for round in 0..ROUNDS {
                std::fs::write(pods.data.join(format!("{who}-{round}")), format!("{who} {round}")).expect("write");
                let pushed = pods.json(&["push", "p", "-m", &format!("{who} {round}")]);
                versions.push(pushed["version"].as_u64().expect("version"));
            }
            versions
        })
    };
    let (ta, tb) = (racer(alice.clone(), "alice"), racer(bob.clone(), "bob"));
    let (va, vb) = (ta.join().expect("alice"), tb.join().expect("bob"));
    assert!(va.windows(2).all(|w| w[0] < w[1]) && vb.windows(2).all(|w| w[0] < w[1]), "{va:?} {vb:?}");
    alice.ok(&["pull", "p"]);
    bob.ok(&["pull", "p"]);
    assert_same_folder(&alice.data, &bob.data);
    let files = read_all(&alice.data);
    for who in ["alice", "bob"] {
        for round in 0..ROUNDS {
            assert_eq!(
                files.get(&format!("{who}-{round}")).map(Vec::as_slice),
                Some(format!("{who} {round}").as_bytes())
            );
        }
    }
    // Every version each pusher recorded is on the remote, with the number it was given.
    let listed = git(&["--git-dir", &url, "ls-tree", "--name-only", "p", "versions/"]);
    let numbers: BTreeSet<u64> =
        listed.lines().map(|l| l.trim_start_matches("versions/").parse().expect("number")).collect();
    for v in va.iter().chain(&vb) {
        assert!(numbers.contains(v), "version {v} is missing from the remote");
    }
    git(&["--git-dir", &url, "fsck", "--strict", "--no-progress"]);
}
