//! `pods gc --remote`: dropped data really leaves the remote, teammates' clones keep
//! working (and never send it back), and a push racing the rewrite is never overwritten.

use std::path::Path;

use crate::support::*;

/// A sample of data that only version 1 holds: incompressible, so packs store it as is
/// and git stores those packs undeflated, and a byte search of the remote finds it.
fn secret() -> Vec<u8> {
    noise(200_000, 7)
}

/// Whether any file under `dir` contains `needle`.
fn contains_bytes(dir: &Path, needle: &[u8]) -> bool {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("list") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path).expect("read").windows(needle.len()).any(|w| w == needle) {
                return true;
            }
        }
    }
    false
}

/// Teammates A and B share pod `p` at `url` (None: A's embedded default remote, whose
/// repository is `remote_dir`). Version 1 holds the secret, version 2 does not; A drops
/// version 1 and runs `gc --remote`.
fn dropped_data_leaves_the_remote(sandbox: &Sandbox, url: Option<String>, remote_dir: &Path) {
    let (a, b) = (sandbox.folder("a"), sandbox.folder("b"));
    let (pods_a, pods_b) = (sandbox.pods("home-a", &a), sandbox.pods("home-b", &b));
    let url = url.unwrap_or_else(|| sandbox.path("home-a/remote.git").display().to_string());
    if !url.ends_with("home-a/remote.git") {
        pods_a.ok(&["create", "p", "--url", &url]);
    }
    build(
        &a,
        &[(b"keep.txt", Spec::File(b"kept in every version", 0o644)), (b"secret.bin", Spec::File(&secret(), 0o644))],
    );
    pods_a.ok(&["push", "p"]);
    pods_b.ok(&["create", "p", "--url", &url]);
    pods_b.ok(&["pull", "p"]);
    std::fs::remove_file(a.join("secret.bin")).expect("rm");
    build(&a, &[(b"later.txt", Spec::File(b"version 2", 0o644))]);
    pods_a.ok(&["push", "p"]);
    pods_b.ok(&["pull", "p"]);
    let sample = &secret()[100_000..100_064];
    assert!(contains_bytes(remote_dir, sample), "the test's premise: version 1's data is on the remote");

    // Without a dropped version there is nothing to rewrite.
    let report = pods_a.json(&["gc", "--remote"]);
    assert_eq!(report["remote"][0]["rewritten"], false, "{report}");

    pods_a.ok(&["versions", "p", "--drop", "1"]);
    let report = pods_a.json(&["gc", "--remote"]);
    assert_eq!(report["remote"][0]["rewritten"], true, "{report}");
    assert_eq!(report["remote"][0]["pruned"], true, "{report}");
    assert!(!contains_bytes(remote_dir, sample), "version 1's data is still on the remote: {report}");
    let log = git(&["--git-dir", remote_dir.to_str().expect("utf-8"), "rev-list", "--count", "refs/heads/p"]);
    assert_eq!(log.trim(), "1", "the rewritten branch is one commit");
    pods_a.ok(&["verify", "--remote"]);

    // B still has version 1 in its store, in a pack that also holds keep.txt. It pulls
    // the rewritten branch, adds a file and pushes (keep.txt unchanged): the push must
    // not send that old pack back.
    pods_b.ok(&["pull", "p"]);
    assert_same_folder(&a, &b);
    build(&b, &[(b"from-b.txt", Spec::File(b"added by B", 0o644))]);
    pods_b.ok(&["push", "p"]);
    assert!(!contains_bytes(remote_dir, sample), "B's push sent version 1's data back");
    pods_a.ok(&["pull", "p"]);
    assert_same_folder(&a, &b);
    pods_b.ok(&["verify", "--remote"]);
    let versions = pods_a.json(&["versions", "p"]);
    let numbers: Vec<u64> =
        versions.as_array().expect("list").iter().map(|v| v["version"].as_u64().expect("n")).collect();
    assert_eq!(numbers, [2, 3]);
}

#[test]
fn gc_remote_on_the_embedded_default_remote() {
    let sandbox = Sandbox::new();
    let remote = sandbox.path("home-a/remote.git");
    dropped_data_leaves_the_remote(&sandbox, None, &remote);
}

#[test]
fn gc_remote_on_a_bare_repository_through_git_push() {
    let sandbox = Sandbox::new();
    let remote = sandbox.bare_remote("shared.git");
    dropped_data_leaves_the_remote(&sandbox, Some(format!("file://{}", remote.display())), &remote);
}

/// B pushes between A's fetch and A's rewrite: A's rewrite is refused (the lease), B's
/// version survives, and a second `gc --remote` succeeds.
#[test]
fn gc_remote_never_overwrites_a_concurrent_push() {
    let sandbox = Sandbox::new();
    let remote = sandbox.bare_remote("shared.git");
    let url = remote.display().to_string();
    let (a, b) = (sandbox.folder("a"), sandbox.folder("b"));
    let (pods_a, pods_b) = (sandbox.pods("home-a", &a), sandbox.pods("home-b", &b));
    pods_a.ok(&["create", "p", "--url", &url]);
    build(&a, &[(b"one.bin", Spec::File(&noise(100_000, 1), 0o644))]);
    pods_a.ok(&["push", "p"]);
    build(&a, &[(b"two.txt", Spec::File(b"two", 0o644))]);
    pods_a.ok(&["push", "p"]);
    pods_b.ok(&["create", "p", "--url", &url]);
    pods_b.ok(&["pull", "p"]);
    build(&b, &[(b"from-b.txt", Spec::File(b"B's work", 0o644))]);
    pods_a.ok(&["versions", "p", "--drop", "1"]);

    let b_push = format!(
        "POD_HOME='{}' DATA_DIR='{}' '{}' push p -m racing",
        pods_b.home.display(),
        b.display(),
        env!("CARGO_BIN_EXE_pods")
    );
    let racing = pods_a.clone().with_env("PODS_TEST_RUN_AT", &format!("gc-remote-before-push={b_push}"));
    let err = racing.fails(&["gc", "--remote"]);
    assert!(err.contains("received a push while gc --remote ran"), "{err}");
    let head = pods_a.json(&["versions", "p"]);
    assert_eq!(head.as_array().and_then(|v| v.last()).map(|v| v["message"].clone()), Some("racing".into()), "{head}");

    let report = pods_a.json(&["gc", "--remote"]);
    assert_eq!(report["remote"][0]["rewritten"], true, "{report}");
    pods_a.ok(&["pull", "p"]);
    assert_same_folder(&a, &b);
    assert_eq!(std::fs::read(a.join("from-b.txt")).expect("B's file"), b"B's work");
}
