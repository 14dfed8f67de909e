//! `pods gc --remote` never overwrites a push that races it. (That dropped data leaves
//! every kind of remote, and clones do not send it back, is in conformance.rs.)

use crate::support::*;

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
