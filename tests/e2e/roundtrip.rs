//! Push from one home and folder, pull into an empty folder of another home: identical.

use std::path::Path;

use crate::support::*;

fn sample_folder(root: &Path) {
    build(
        root,
        &[
            (b"state/queue.json", Spec::File(b"{\"messages\": []}", 0o644)),
            (b"state/run.sh", Spec::File(b"#!/bin/sh\necho hi\n", 0o755)),
            (b"state/secret", Spec::File(b"s3cr3t", 0o600)),
            (b"state/read-only", Spec::File(b"frozen", 0o444)),
            (b"empty-file", Spec::File(b"", 0o644)),
            (b"empty-dir", Spec::Dir(0o700)),
            (b"nested/empty/deeper", Spec::Dir(0o755)),
            (b"db/big.sqlite", Spec::File(&noise(3 << 20, 7), 0o644)),
            (b"links/to-file", Spec::Symlink("../state/queue.json")),
            (b"links/dangling", Spec::Symlink("/nonexistent/target")),
            (b"links/outside", Spec::Symlink("../../../etc/passwd")),
            (b"odd names/with space", Spec::File(b"space", 0o644)),
            (b"odd names/caf\xc3\xa9", Spec::File(b"utf-8", 0o644)),
            (b"odd names/latin1-\xe9", Spec::File(b"not utf-8", 0o644)),
            (b"odd names/new\nline", Spec::File(b"newline", 0o644)),
        ],
    );
    // A fixed old mtime must survive the trip.
    let old = filetime::FileTime::from_unix_time(1_234_567_890, 123_456_789);
    filetime::set_file_mtime(root.join("state/queue.json"), old).expect("mtime");
}

fn round_trip(url_of: impl Fn(&Path) -> String, env: &[(&str, &str)]) {
    let sandbox = Sandbox::new();
    let remote = sandbox.bare_remote("remote.git");
    let url = url_of(&remote);
    let (a, b) = (sandbox.folder("a"), sandbox.folder("b"));
    sample_folder(&a);
    let mut alice = sandbox.pods("home-a", &a);
    let mut bob = sandbox.pods("home-b", &b);
    for (k, v) in env {
        alice = alice.with_env(k, v);
        bob = bob.with_env(k, v);
    }
    alice.ok(&["create", "shared", "--url", &url]);
    let pushed = alice.json(&["push", "shared", "-m", "first"]);
    assert_eq!(pushed["version"], 1);
    bob.ok(&["create", "shared", "--url", &url]);
    bob.ok(&["pull", "shared"]);
    assert_same_folder(&a, &b);
    // The remote is a valid git repository that plain git can check and clone.
    git(&["--git-dir", remote.to_str().expect("utf-8"), "fsck", "--strict", "--no-progress"]);
    let clone = sandbox.path("clone");
    git(&["clone", "--quiet", "--branch", "shared", remote.to_str().expect("utf-8"), clone.to_str().expect("utf-8")]);
    assert!(clone.join("POD").exists() && clone.join("versions/0000000001").exists());

    // A change on Bob's side travels back to Alice.
    std::fs::write(b.join("state/queue.json"), b"{\"messages\": [1]}").expect("edit");
    std::fs::remove_file(b.join("state/secret")).expect("remove");
    assert_eq!(bob.json(&["push", "shared", "-m", "from bob"])["version"], 2);
    alice.ok(&["pull", "shared"]);
    assert_same_folder(&a, &b);
    let versions = alice.json(&["versions", "shared"]);
    assert_eq!(versions.as_array().map(Vec::len), Some(2));
    assert_eq!(versions[1]["message"], "from bob");
}

#[test]
fn bare_path_remote() {
    round_trip(|p| p.display().to_string(), &[]);
}

#[test]
fn file_url_remote() {
    round_trip(|p| format!("file://{}", p.display()), &[]);
}

#[test]
fn ssh_remote() {
    let sshd = Sshd::start();
    let ssh = sshd.ssh_command.clone();
    round_trip(|p| sshd.url(p), &[("GIT_SSH_COMMAND", &ssh)]);
}

#[test]
fn embedded_default_remote_needs_no_setup() {
    let sandbox = Sandbox::new();
    let a = sandbox.folder("a");
    sample_folder(&a);
    let alice = sandbox.pods("home", &a);
    let out = alice.ok(&["push", "mypod"]);
    assert!(out.contains("created it on the embedded default remote"), "{out}");
    // Pull an older version into a second folder of the same home.
    std::fs::write(a.join("state/queue.json"), b"v2").expect("edit");
    alice.ok(&["push", "mypod"]);
    let b = sandbox.folder("b");
    let bob = sandbox.pods("home", &b);
    bob.ok(&["pull", "mypod@1"]);
    assert_eq!(std::fs::read(b.join("state/queue.json")).expect("read"), b"{\"messages\": []}");
    bob.ok(&["pull", "mypod"]);
    assert_same_folder(&a, &b);
    let list = alice.json(&["list"]);
    assert_eq!(list["pods"][0]["name"], "mypod");
    assert_eq!(list["pods"][0]["versions"], 2);
}

#[test]
fn overwrite_makes_the_folder_exactly_the_version() {
    let sandbox = Sandbox::new();
    let (a, b) = (sandbox.folder("a"), sandbox.folder("b"));
    sample_folder(&a);
    let alice = sandbox.pods("home", &a);
    alice.ok(&["push", "p"]);
    build(&b, &[(b"stray/file", Spec::File(b"x", 0o644)), (b"state/queue.json", Spec::File(b"mine", 0o644))]);
    let bob = sandbox.pods("home", &b);
    // Without a base, a path on both sides with different content is a conflict.
    let err = bob.fails(&["pull", "p"]);
    assert!(err.contains("state/queue.json") && err.contains("--prefer theirs"), "{err}");
    assert_eq!(std::fs::read(b.join("state/queue.json")).expect("untouched"), b"mine");
    bob.ok(&["pull", "p", "--strategy", "overwrite"]);
    assert_same_folder(&a, &b);
}

#[test]
fn reset_empties_the_folder_but_not_itself() {
    let sandbox = Sandbox::new();
    let a = sandbox.folder("a");
    sample_folder(&a);
    let pods = sandbox.pods("home", &a);
    let err = pods.fails(&["reset"]);
    assert!(err.contains("--yes"), "{err}");
    assert!(a.join("state/queue.json").exists());
    pods.ok(&["reset", "--yes"]);
    assert!(a.is_dir());
    assert_eq!(std::fs::read_dir(&a).expect("list").count(), 0);
}
