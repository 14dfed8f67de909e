//! The same scenarios against every kind of remote: the embedded default (written
//! directly), a bare path, `file://` and `ssh://` (git push and fetch through a real
//! sshd). Then, over ssh, a fault-injecting transport: failed, slow, truncated and
//! corrupted transfers in each direction.

use std::path::{Path, PathBuf};

use crate::support::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Embedded,
    Path,
    FileUrl,
    Ssh,
}

/// A remote of one kind shared by the homes `home-a`, `home-b`, ... of one sandbox.
struct Remote {
    kind: Kind,
    sandbox: Sandbox,
    /// The git repository on this disk behind the URL.
    dir: PathBuf,
    url: String,
    env: Vec<(String, String)>,
    _sshd: Option<Sshd>,
}

impl Remote {
    fn new(kind: Kind) -> Remote {
        let sandbox = Sandbox::new();
        let (dir, sshd) = match kind {
            // home-a's own embedded remote, made by its first push.
            Kind::Embedded => (sandbox.path("home-a/remote.git"), None),
            Kind::Path | Kind::FileUrl => (sandbox.bare_remote("shared.git"), None),
            Kind::Ssh => (sandbox.bare_remote("shared.git"), Some(Sshd::start())),
        };
        let url = match (&sshd, kind) {
            (Some(sshd), _) => sshd.url(&dir),
            (None, Kind::FileUrl) => format!("file://{}", dir.display()),
            (None, _) => dir.display().to_string(),
        };
        let env = match &sshd {
            Some(sshd) => vec![("GIT_SSH_COMMAND".to_string(), faulty_ssh(&sandbox, &sshd.ssh_command))],
            None => Vec::new(),
        };
        Remote { kind, sandbox, dir, url, env, _sshd: sshd }
    }

    /// `pods` for home `home-<who>` and its folder `<who>`, with pod `p` on this remote.
    /// On the embedded kind, home-a pushes to its own default remote without creating
    /// the pod, so it must push before anyone else joins.
    fn join(&self, who: &str) -> (Pods, PathBuf) {
        let folder = self.sandbox.folder(who);
        let mut pods = self.sandbox.pods(&format!("home-{who}"), &folder);
        for (k, v) in &self.env {
            pods = pods.with_env(k, v);
        }
        if !(self.kind == Kind::Embedded && who == "a") {
            pods.ok(&["create", "p", "--url", &self.url]);
        }
        (pods, folder)
    }

    /// The branch head on the remote, read with plain git.
    fn head(&self) -> String {
        git(&["--git-dir", self.dir.to_str().expect("utf-8"), "rev-parse", "refs/heads/p"])
    }
}

/// An ssh command that misbehaves as `PODS_FAULT` says (unset: a plain ssh):
/// `fail` (connection refused), `slow` (1 s before connecting), `cut-fetch` / `cut-push`
/// (the stream from / to the remote ends after 30 000 bytes), `flip-fetch` / `flip-push`
/// (one byte of that stream changed). Fetches run `git-upload-pack`, pushes
/// `git-receive-pack`; listing a branch also fetches, but stays far below 30 000 bytes.
fn faulty_ssh(sandbox: &Sandbox, ssh: &str) -> String {
    let script = sandbox.path("faulty-ssh");
    let body = format!(
        r#"#!/bin/sh
for last in "$@"; do :; done
case "$last" in git-upload-pack*) way=fetch ;; git-receive-pack*) way=push ;; *) way=other ;; esac
# dd bs=1 passes bytes on as they come; head -c would hold them back until it exits.
first_30000() {{ dd bs=1 count=30000 2>/dev/null; }}
flip() {{ first_30000; dd bs=1 count=1 2>/dev/null | LC_ALL=C tr '\000-\377' '\001-\377\000'; cat; }}
case "${{PODS_FAULT:-none}}:$way" in
  fail:*) echo "ssh: connect to host 127.0.0.1 port 22: Connection refused" >&2; exit 255 ;;
  slow:*) sleep 1; exec {ssh} "$@" ;;
  cut-fetch:fetch) {ssh} "$@" | first_30000; exit 0 ;;
  cut-push:push) first_30000 | {ssh} "$@"; exit $? ;;
  flip-fetch:fetch) {ssh} "$@" | flip; exit 0 ;;
  flip-push:push) flip | {ssh} "$@"; exit $? ;;
  *) exec {ssh} "$@" ;;
esac
"#
    );
    std::fs::write(&script, body).expect("write script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    script.display().to_string()
}

/// A sends, B receives, B changes and sends back, A receives: the folders match each time.
fn round_trip(kind: Kind) {
    let remote = Remote::new(kind);
    let (a, a_dir) = remote.join("a");
    build(
        &a_dir,
        &[
            (b"state/queue.json", Spec::File(b"{\"messages\": []}", 0o644)),
            (b"state/run.sh", Spec::File(b"#!/bin/sh\n", 0o755)),
            (b"db/big.sqlite", Spec::File(&noise(2 << 20, 3), 0o644)),
            (b"links/up", Spec::Symlink("../state/queue.json")),
            (b"empty", Spec::Dir(0o700)),
        ],
    );
    a.ok(&["push", "p"]);
    let (b, b_dir) = remote.join("b");
    b.ok(&["pull", "p"]);
    assert_same_folder(&a_dir, &b_dir);
    std::fs::write(b_dir.join("state/queue.json"), b"{\"messages\": [1]}").expect("edit");
    std::fs::remove_file(b_dir.join("state/run.sh")).expect("rm");
    b.ok(&["push", "p"]);
    a.ok(&["pull", "p"]);
    assert_same_folder(&a_dir, &b_dir);
    git(&["--git-dir", remote.dir.to_str().expect("utf-8"), "fsck", "--strict", "--no-progress"]);
    a.ok(&["verify", "--remote"]);
}

/// A small change moves little: the second pull fetches one pack, far smaller than the
/// folder, and an unchanged push sends nothing.
fn only_changes_travel(kind: Kind) {
    let remote = Remote::new(kind);
    let (a, a_dir) = remote.join("a");
    build(&a_dir, &[(b"big.bin", Spec::File(&noise(4 << 20, 1), 0o644)), (b"small.txt", Spec::File(b"1", 0o644))]);
    a.ok(&["push", "p"]);
    let (b, b_dir) = remote.join("b");
    b.ok(&["pull", "p"]);
    build(&a_dir, &[(b"small.txt", Spec::File(b"2", 0o644))]);
    let pushed = a.json(&["push", "p"]);
    assert!(pushed["bytes_sent"].as_u64().expect("bytes") < 64 << 10, "a one-byte change sent {pushed}");
    let unchanged = a.json(&["push", "p"]);
    assert_eq!(unchanged["up_to_date"], true, "{unchanged}");
    let pulled = b.json(&["pull", "p"]);
    assert_eq!(pulled["packs_fetched"], 1, "{pulled}");
    assert_same_folder(&a_dir, &b_dir);
}

/// A and B change different files from the same version and both push: the second push
/// merges on the remote (B's folder keeps what B pushed), and after a pull both folders
/// hold both changes.
fn racing_pushers_merge(kind: Kind) {
    let remote = Remote::new(kind);
    let (a, a_dir) = remote.join("a");
    build(&a_dir, &[(b"one.txt", Spec::File(b"one", 0o644)), (b"two.txt", Spec::File(b"two", 0o644))]);
    a.ok(&["push", "p"]);
    let (b, b_dir) = remote.join("b");
    b.ok(&["pull", "p"]);
    build(&a_dir, &[(b"one.txt", Spec::File(b"one by A", 0o644))]);
    build(&b_dir, &[(b"two.txt", Spec::File(b"two by B", 0o644))]);
    a.ok(&["push", "p"]);
    let merged = b.json(&["push", "p"]);
    assert!(merged["merged_as"].is_u64(), "B's push did not merge: {merged}");
    assert_eq!(std::fs::read(b_dir.join("one.txt")).expect("one"), b"one", "a push changed B's folder");
    a.ok(&["pull", "p"]);
    b.ok(&["pull", "p"]);
    assert_same_folder(&a_dir, &b_dir);
    assert_eq!(std::fs::read(a_dir.join("one.txt")).expect("one"), b"one by A");
    assert_eq!(std::fs::read(a_dir.join("two.txt")).expect("two"), b"two by B");
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

/// Version 1 holds a secret, version 2 does not. A drops version 1 and runs
/// `gc --remote`: the secret's bytes leave the remote, B (which still has them) pulls,
/// pushes, and does not send them back. The secret is incompressible, so packs store it
/// as is and git stores those packs undeflated: a byte search of the remote finds it.
fn gc_remote_removes_dropped_data(kind: Kind) {
    let remote = Remote::new(kind);
    let secret = noise(200_000, 7);
    let sample = &secret[100_000..100_064];
    let (a, a_dir) = remote.join("a");
    build(
        &a_dir,
        &[(b"keep.txt", Spec::File(b"in every version", 0o644)), (b"secret.bin", Spec::File(&secret, 0o644))],
    );
    a.ok(&["push", "p"]);
    let (b, b_dir) = remote.join("b");
    b.ok(&["pull", "p"]);
    std::fs::remove_file(a_dir.join("secret.bin")).expect("rm");
    build(&a_dir, &[(b"later.txt", Spec::File(b"version 2", 0o644))]);
    a.ok(&["push", "p"]);
    b.ok(&["pull", "p"]);
    assert!(contains_bytes(&remote.dir, sample), "the test's premise: version 1's data is on the remote");

    let report = a.json(&["gc", "--remote"]);
    assert_eq!(report["remote"][0]["rewritten"], false, "nothing was dropped yet: {report}");
    a.ok(&["versions", "p", "--drop", "1"]);
    let report = a.json(&["gc", "--remote"]);
    assert_eq!(report["remote"][0]["rewritten"], true, "{report}");
    // A repository on this disk is pruned by pods; over ssh the host's own gc does it.
    let on_this_disk = kind != Kind::Ssh;
    assert_eq!(report["remote"][0]["pruned"], on_this_disk, "{report}");
    if !on_this_disk {
        let dir = remote.dir.to_str().expect("utf-8");
        git(&["--git-dir", dir, "reflog", "expire", "--expire=now", "--all"]);
        git(&["--git-dir", dir, "gc", "--quiet", "--prune=now"]);
    }
    assert!(!contains_bytes(&remote.dir, sample), "version 1's data is still on the remote: {report}");
    let count = git(&["--git-dir", remote.dir.to_str().expect("utf-8"), "rev-list", "--count", "refs/heads/p"]);
    assert_eq!(count.trim(), "1", "the rewritten branch is one commit");
    a.ok(&["verify", "--remote"]);

    // B's store has a pack holding both the secret and keep.txt. B pulls the rewritten
    // branch and adds a file, keep.txt unchanged: that old pack must not go back.
    b.ok(&["pull", "p"]);
    assert_same_folder(&a_dir, &b_dir);
    build(&b_dir, &[(b"from-b.txt", Spec::File(b"added by B", 0o644))]);
    b.ok(&["push", "p"]);
    assert!(!contains_bytes(&remote.dir, sample), "B's push sent version 1's data back");
    a.ok(&["pull", "p"]);
    assert_same_folder(&a_dir, &b_dir);
    b.ok(&["verify", "--remote"]);
    let numbers: Vec<u64> = a
        .json(&["versions", "p"])
        .as_array()
        .expect("list")
        .iter()
        .map(|v| v["version"].as_u64().expect("n"))
        .collect();
    assert_eq!(numbers, [2, 3]);
}

macro_rules! conformance {
    ($($kind:ident => $module:ident),* $(,)?) => {$(
        mod $module {
            use super::Kind;

            #[test]
            fn round_trip() {
                super::round_trip(Kind::$kind);
            }

            #[test]
            fn only_changes_travel() {
                super::only_changes_travel(Kind::$kind);
            }

            #[test]
            fn racing_pushers_merge() {
                super::racing_pushers_merge(Kind::$kind);
            }

            #[test]
            fn gc_remote_removes_dropped_data() {
                super::gc_remote_removes_dropped_data(Kind::$kind);
            }
        }
    )*};
}

conformance!(Embedded => embedded, Path => bare_path, FileUrl => file_url, Ssh => ssh);

/// Every transfer fault, in each direction, over ssh: the command fails with git's reason
/// and the URL, the folder and the store stay as they were, the remote branch does not
/// move, and the same command without the fault then succeeds. A slow link just works.
#[test]
fn faulty_transfers_fail_cleanly_and_lose_nothing() {
    let remote = Remote::new(Kind::Ssh);
    let (a, a_dir) = remote.join("a");
    build(&a_dir, &[(b"base.txt", Spec::File(b"base", 0o644))]);
    a.ok(&["push", "p"]);
    let (b, b_dir) = remote.join("b");
    b.ok(&["pull", "p"]);
    // A version whose pack is well past the 30 000 bytes where transfers are cut.
    build(&a_dir, &[(b"blob.bin", Spec::File(&noise(500_000, 5), 0o644))]);
    a.ok(&["push", "p"]);

    let before = listing(&b_dir);
    for fault in ["fail", "cut-fetch", "flip-fetch"] {
        let err = b.clone().with_env("PODS_FAULT", fault).fails(&["pull", "p"]);
        assert!(err.contains(&remote.url), "{fault}: the error does not name the remote: {err}");
        assert_eq!(listing(&b_dir), before, "{fault}: the folder changed");
        b.ok(&["verify"]);
    }
    b.clone().with_env("PODS_FAULT", "slow").ok(&["pull", "p"]);
    assert_same_folder(&a_dir, &b_dir);

    build(&b_dir, &[(b"from-b.bin", Spec::File(&noise(400_000, 6), 0o644))]);
    let head = remote.head();
    for fault in ["fail", "cut-push", "flip-push"] {
        let err = b.clone().with_env("PODS_FAULT", fault).fails(&["push", "p"]);
        assert!(err.contains(&remote.url), "{fault}: the error does not name the remote: {err}");
        assert_eq!(remote.head(), head, "{fault}: the branch moved");
        b.ok(&["verify"]);
    }
    b.clone().with_env("PODS_FAULT", "slow").ok(&["push", "p"]);
    a.ok(&["pull", "p"]);
    assert_same_folder(&a_dir, &b_dir);
    a.ok(&["verify", "--remote"]);
}
