//! Bad input gets a clear error naming the problem and the fix, and changes nothing.

use crate::support::*;

#[test]
fn data_dir_unset_missing_or_not_a_folder() {
    let sandbox = Sandbox::new();
    let a = sandbox.folder("a");
    let pods = sandbox.pods("home", &a);
    let out = pods.command(&["push", "p"]).env_remove("DATA_DIR").output().expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("DATA_DIR") && err.contains("--data-dir"), "{err}");

    let missing = sandbox.pods("home", &sandbox.path("nope"));
    let err = missing.fails(&["push", "p"]);
    assert!(err.contains("does not exist") && err.contains("mkdir"), "{err}");

    std::fs::write(sandbox.path("file"), b"x").expect("write");
    let file = sandbox.pods("home", &sandbox.path("file"));
    assert!(file.fails(&["push", "p"]).contains("is not a folder"));
    assert!(!sandbox.path("home/pods.json").exists(), "a failed push defined a pod");
}

#[test]
fn unknown_pod_and_version() {
    let sandbox = Sandbox::new();
    let a = sandbox.folder("a");
    std::fs::write(a.join("f"), b"x").expect("write");
    let pods = sandbox.pods("home", &a);
    let err = pods.fails(&["pull", "nosuch"]);
    assert!(err.contains("unknown pod 'nosuch'") && err.contains("none yet"), "{err}");
    pods.ok(&["push", "real"]);
    let err = pods.fails(&["pull", "nosuch"]);
    assert!(err.contains("Known pods: real"), "{err}");
    let err = pods.fails(&["pull", "real@7"]);
    assert!(err.contains("no version 7") && err.contains("latest is 1"), "{err}");
    let err = pods.fails(&["create", "bad/name"]);
    assert!(err.contains("not a valid pod name"), "{err}");
    assert_eq!(std::fs::read(a.join("f")).expect("read"), b"x");
}

#[test]
fn unreachable_remote_passes_on_what_git_said() {
    let sandbox = Sandbox::new();
    let a = sandbox.folder("a");
    std::fs::write(a.join("f"), b"x").expect("write");
    let pods = sandbox.pods("home", &a);
    pods.ok(&["create", "p", "--url", "/nonexistent/repo.git"]);
    let err = pods.fails(&["push", "p"]);
    assert!(err.contains("/nonexistent/repo.git") && err.contains("does not appear to be a git repository"), "{err}");
}

#[test]
fn remote_moved_since_last_pull() {
    let sandbox = Sandbox::new();
    let remote = sandbox.bare_remote("remote.git");
    let url = remote.to_str().expect("utf-8");
    let (a, b, c) = (sandbox.folder("a"), sandbox.folder("b"), sandbox.folder("c"));
    std::fs::write(a.join("f"), b"one").expect("write");
    let alice = sandbox.pods("home-a", &a);
    let bob = sandbox.pods("home-b", &b);
    alice.ok(&["create", "p", "--url", url]);
    bob.ok(&["create", "p", "--url", url]);
    alice.ok(&["push", "p"]);
    bob.ok(&["pull", "p"]);
    std::fs::write(a.join("f"), b"two").expect("write");
    alice.ok(&["push", "p"]);

    // A folder that never pulled the pod is told to pull first, and nothing changes.
    let head = git(&["--git-dir", url, "rev-parse", "p"]);
    std::fs::write(c.join("g"), b"carol's").expect("write");
    let carol = sandbox.pods("home-b", &c);
    let err = carol.fails(&["push", "p"]);
    assert!(err.contains("version 2") && err.contains("pods pull p") && err.contains("--force"), "{err}");
    assert_eq!(git(&["--git-dir", url, "rev-parse", "p"]), head, "the remote changed");

    // Bob synced version 1 and changed another file: his push merges with Alice's.
    std::fs::write(b.join("g"), b"bob's").expect("write");
    let pushed = bob.json(&["push", "p"]);
    assert_eq!((pushed["version"].as_u64(), pushed["merged_as"].as_u64()), (Some(3), Some(4)));
    let parents = git(&["--git-dir", url, "log", "-1", "--format=%P", "p"]);
    assert_eq!(parents.trim(), head.trim(), "the merge commit must follow Alice's");
    bob.ok(&["pull", "p"]);
    assert_eq!(std::fs::read(b.join("f")).expect("read"), b"two");
    assert_eq!(std::fs::read(b.join("g")).expect("read"), b"bob's");
    alice.ok(&["pull", "p"]);
    assert_same_folder(&a, &b);
}

#[test]
fn a_branch_that_is_not_a_pod() {
    let sandbox = Sandbox::new();
    let remote = sandbox.bare_remote("remote.git");
    let work = sandbox.folder("work");
    let w = work.to_str().expect("utf-8");
    git(&["-C", w, "init", "--quiet", "-b", "main"]);
    std::fs::write(work.join("README"), b"code").expect("write");
    git(&["-C", w, "add", "README"]);
    git(&["-C", w, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", "code"]);
    git(&["-C", w, "push", "--quiet", remote.to_str().expect("utf-8"), "main"]);
    let a = sandbox.folder("a");
    std::fs::write(a.join("keep"), b"mine").expect("write");
    let pods = sandbox.pods("home", &a);
    pods.ok(&["create", "code", "--url", remote.to_str().expect("utf-8"), "--branch", "main"]);
    let err = pods.fails(&["pull", "code"]);
    assert!(err.contains("is not a pod"), "{err}");
    let err = pods.fails(&["push", "code"]);
    assert!(err.contains("is not a pod"), "{err}");
    assert_eq!(std::fs::read(a.join("keep")).expect("read"), b"mine");
    assert_eq!(std::fs::read_dir(&a).expect("list").count(), 1);
}

/// A small tmpfs, unmounted on drop. The tests run as root (CI does), as mounting needs.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(path: std::path::PathBuf, size: &str) -> Tmpfs {
        std::fs::create_dir_all(&path).expect("mount point");
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .output()
            .expect("run mount");
        assert!(out.status.success(), "mounting a tmpfs needs root: {}", String::from_utf8_lossy(&out.stderr));
        Tmpfs(path)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn full_disk_on_pull_changes_nothing() {
    let sandbox = Sandbox::new();
    let a = sandbox.folder("a");
    std::fs::write(a.join("big"), noise(6 << 20, 1)).expect("write");
    sandbox.pods("home", &a).ok(&["push", "p"]);
    let small = Tmpfs::mount(sandbox.path("small"), "3m");
    std::fs::write(small.0.join("mine"), b"keep me").expect("write");
    let before = listing(&small.0);
    let err = sandbox.pods("home", &small.0).fails(&["pull", "p"]);
    assert!(err.contains("not enough space") && err.contains("nothing was changed"), "{err}");
    assert_eq!(listing(&small.0), before);
}

#[test]
fn full_disk_on_push_keeps_the_store_sound() {
    let sandbox = Sandbox::new();
    let a = sandbox.folder("a");
    std::fs::write(a.join("small"), b"fits").expect("write");
    let home = Tmpfs::mount(sandbox.path("home"), "4m");
    let pods = sandbox.pods("home", &a);
    pods.ok(&["push", "p"]);
    std::fs::write(a.join("big"), noise(8 << 20, 2)).expect("write");
    let err = pods.fails(&["push", "p"]);
    assert!(err.contains("is full") && err.contains("free some space"), "{err}");
    pods.ok(&["verify"]);
    assert_eq!(pods.json(&["versions", "p"]).as_array().map(Vec::len), Some(1), "a failed push recorded a version");
    std::fs::remove_file(a.join("big")).expect("rm");
    std::fs::write(a.join("more"), b"after freeing space").expect("write");
    assert_eq!(pods.json(&["push", "p"])["version"], 2);
    drop(home);
}

#[test]
fn an_unreadable_file_is_named_and_nothing_is_recorded() {
    // Root reads everything, so pods runs as `nobody` here (setpriv, from util-linux).
    use std::os::unix::fs::PermissionsExt;
    let sandbox = Sandbox::new();
    let open =
        |p: &std::path::Path| std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    open(sandbox.dir.path());
    let a = sandbox.folder("a");
    open(&a);
    std::fs::write(a.join("fine.txt"), b"readable").expect("write");
    std::fs::set_permissions(a.join("fine.txt"), std::fs::Permissions::from_mode(0o644)).expect("chmod");
    std::fs::write(a.join("secret.db"), b"root only").expect("write");
    std::fs::set_permissions(a.join("secret.db"), std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let home = sandbox.folder("home");
    open(&home);
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_pods")])
        .args(["--home", home.to_str().expect("utf-8"), "--data-dir", a.to_str().expect("utf-8"), "push", "p"])
        .env("HOME", &home)
        .output()
        .expect("run pods as nobody");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a push with an unreadable file succeeded");
    assert!(
        err.contains("secret.db") && err.contains("Permission denied") && err.contains("Fix its permissions"),
        "{err}"
    );
    assert!(!home.join("remote.git/refs/heads/p").exists(), "a version was recorded anyway");
}

#[test]
fn ctrl_c_stops_cleanly_and_the_next_run_completes() {
    let sandbox = Sandbox::new();
    let a = sandbox.folder("a");
    for i in 0..24u64 {
        std::fs::write(a.join(format!("f{i}")), noise(2 << 20, i)).expect("write");
    }
    let pods = sandbox.pods("home", &a);
    for (args, folder) in [(["push", "p"], a.clone()), (["pull", "p"], sandbox.folder("b"))] {
        let runner = sandbox.pods("home", &folder);
        let mut stopped = false;
        for delay in [50u64, 150, 400] {
            let child = runner
                .command(&args)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn");
            std::thread::sleep(std::time::Duration::from_millis(delay));
            let _ = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status();
            let out = child.wait_with_output().expect("wait");
            if out.status.code() == Some(130) {
                let err = String::from_utf8_lossy(&out.stderr);
                assert!(err.contains("interrupted") && err.contains("nothing was lost"), "{err}");
                stopped = true;
            }
        }
        assert!(stopped || args[0] == "pull", "Ctrl-C never caught a push in progress");
        runner.ok(&args);
        pods.ok(&["verify"]);
    }
    assert_same_folder(&a, &sandbox.path("b"));
}

#[test]
fn a_file_written_while_it_is_read_is_read_again_never_recorded_torn() {
    let sandbox = Sandbox::new();
    let a = sandbox.folder("a");
    std::fs::write(a.join("live.db"), noise(1 << 20, 4)).expect("write");
    std::fs::write(a.join("calm.txt"), b"calm").expect("write");
    let pods = sandbox.pods("home", &a);
    // Written once during the read: pods notices (size, mtime, ctime) and reads it again.
    pods.clone().with_env("PODS_TEST_WRITE_DURING_READ", "live.db").ok(&["push", "p"]);
    let b = sandbox.folder("b");
    sandbox.pods("home", &b).ok(&["pull", "p"]);
    assert_eq!(std::fs::read(b.join("live.db")).expect("read"), std::fs::read(a.join("live.db")).expect("read"));
    assert_eq!(std::fs::metadata(a.join("live.db")).expect("meta").len(), (1 << 20) + 1);
    // Written during every read: the push gives up and records nothing.
    std::fs::write(a.join("live.db"), noise(1 << 20, 5)).expect("write");
    let err = pods.clone().with_env("PODS_TEST_WRITE_DURING_READ", "live.db:always").fails(&["push", "p"]);
    assert!(err.contains("live.db kept changing while it was read"), "{err}");
    assert_eq!(pods.json(&["versions", "p"]).as_array().map(Vec::len), Some(1));
}
