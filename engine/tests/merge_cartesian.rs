//! Every combination of (base, ours, theirs) states of one path × each strategy, applied
//! to a real folder, checked against the rules written out independently below (as in
//! gitoxide's tests/merge/tree/cartesian.rs). Plus a property test over random trees.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use pods_engine::filecache::FilesCache;
use pods_engine::id::TreeId;
use pods_engine::merge::{merge, Prefer, Resolution, Strategy};
use pods_engine::progress::{Interrupt, NoProgress};
use pods_engine::store::Store;
use pods_engine::{apply, snapshot};

/// The states one path can be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Absent,
    FileA,
    FileB,
    FileC,
    /// Content A with the executable bit: a mode-only change from FileA.
    FileAExec,
    Link,
    /// A directory holding `inner` with content A (or B).
    DirA,
    DirB,
}

const STATES: [State; 8] =
    [State::Absent, State::FileA, State::FileB, State::FileC, State::FileAExec, State::Link, State::DirA, State::DirB];

/// A fixed mtime for every file, so equal content gives equal tree ids.
const MTIME: i64 = 1_600_000_000;

fn write_file(path: &Path, content: &[u8], mode: u32) {
    fs::write(path, content).expect("write");
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
    filetime::set_file_mtime(path, filetime::FileTime::from_unix_time(MTIME, 0)).expect("mtime");
}

fn create(root: &Path, state: State) {
    fs::create_dir_all(root).expect("root");
    write_file(&root.join("keep"), b"unrelated", 0o644);
    let x = root.join("x");
    match state {
        State::Absent => {}
        State::FileA => write_file(&x, b"A", 0o644),
        State::FileB => write_file(&x, b"B", 0o644),
        State::FileC => write_file(&x, b"C", 0o644),
        State::FileAExec => write_file(&x, b"A", 0o755),
        State::Link => std::os::unix::fs::symlink("target", &x).expect("symlink"),
        State::DirA | State::DirB => {
            fs::create_dir(&x).expect("dir");
            write_file(&x.join("inner"), if state == State::DirA { b"A" } else { b"B" }, 0o644);
            filetime::set_file_mtime(&x, filetime::FileTime::from_unix_time(MTIME, 0)).expect("mtime");
        }
    }
}

/// Reads back the state of `x` (and checks `keep` survived).
fn read_state(root: &Path) -> State {
    assert_eq!(fs::read(root.join("keep")).expect("keep"), b"unrelated");
    let x = root.join("x");
    let Ok(meta) = fs::symlink_metadata(&x) else { return State::Absent };
    if meta.file_type().is_symlink() {
        return State::Link;
    }
    if meta.is_dir() {
        let names: Vec<_> = fs::read_dir(&x).expect("list").map(|e| e.expect("entry").file_name()).collect();
        return match (names.len(), fs::read(x.join("inner")).ok().as_deref()) {
            (1, Some(b"A")) => State::DirA,
            (1, Some(b"B")) => State::DirB,
            other => panic!("unexpected directory content {other:?}"),
        };
    }
    let exec = meta.permissions().mode() & 0o111 != 0;
    match (fs::read(&x).expect("read").as_slice(), exec) {
        (b"A", false) => State::FileA,
        (b"A", true) => State::FileAExec,
        (b"B", false) => State::FileB,
        (b"C", false) => State::FileC,
        other => panic!("unexpected file {other:?}"),
    }
}

/// The rules, written from the documentation rather than from the code: a side that did
/// not change the path yields to the other; equal changes agree; two directories merge
/// inside; anything else conflicts.
fn expected(base: State, ours: State, theirs: State, strategy: Strategy, prefer: Prefer) -> Option<State> {
    use State::*;
    if strategy == Strategy::Overwrite || ours == theirs {
        return Some(if strategy == Strategy::Overwrite { theirs } else { ours });
    }
    let inner = |s: State| match s {
        DirA => Some(FileA),
        DirB => Some(FileB),
        _ => None,
    };
    if let (Some(o), Some(t)) = (inner(ours), inner(theirs)) {
        let b = inner(base).unwrap_or(Absent);
        return expected(b, o, t, strategy, prefer).map(|s| if s == FileA { DirA } else { DirB });
    }
    if base == ours {
        Some(theirs)
    } else if base == theirs {
        Some(ours)
    } else {
        match prefer {
            Prefer::Neither => None,
            Prefer::Ours => Some(ours),
            Prefer::Theirs => Some(theirs),
        }
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    store: Store,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().to_path_buf();
        let store = Store::open(&root.join("store")).expect("store");
        Fixture { _dir: dir, root, store }
    }

    fn snapshot(&self, folder: &Path) -> (TreeId, FilesCache) {
        let cache = std::sync::Mutex::new(FilesCache::default());
        let interrupt = Interrupt::default();
        let ctx = snapshot::Context {
            store: &self.store,
            cache: &cache,
            progress: &NoProgress,
            interrupt: &interrupt,
            remove_leftovers: false,
        };
        let snap = snapshot::snapshot(folder, &ctx).expect("snapshot");
        self.store.flush().expect("flush");
        (snap.root, snap.cache)
    }
}

#[test]
fn every_state_combination_and_strategy() {
    let fx = Fixture::new();
    let roots: Vec<TreeId> = STATES
        .iter()
        .map(|s| {
            let folder = fx.root.join(format!("state-{s:?}"));
            create(&folder, *s);
            fx.snapshot(&folder).0
        })
        .collect();
    let modes = [
        (Strategy::Merge, Prefer::Neither),
        (Strategy::Merge, Prefer::Ours),
        (Strategy::Merge, Prefer::Theirs),
        (Strategy::Overwrite, Prefer::Neither),
    ];
    let mut cases = 0;
    let interrupt = Interrupt::default();
    for (bi, base) in STATES.iter().enumerate() {
        for ours in STATES {
            for (ti, theirs) in STATES.iter().enumerate() {
                for (strategy, prefer) in modes {
                    // The folder is created like the snapshot of its state, so that root serves.
                    let folder = fx.root.join(format!("case-{cases}"));
                    create(&folder, ours);
                    let mut cache = FilesCache::default();
                    let ours_root = roots[STATES.iter().position(|s| *s == ours).expect("listed")];
                    let outcome =
                        merge(&fx.store, Some(roots[bi]), ours_root, roots[ti], strategy, prefer).expect("merge");
                    let want = expected(*base, ours, *theirs, strategy, prefer);
                    let case = format!("base {base:?}, ours {ours:?}, theirs {theirs:?}, {strategy:?}/{prefer:?}");
                    match want {
                        None => {
                            assert!(outcome.unresolved().next().is_some(), "expected a conflict: {case}");
                            assert!(outcome.conflicts.iter().all(|c| c.resolution == Resolution::Unresolved));
                        }
                        Some(want) => {
                            assert!(outcome.unresolved().next().is_none(), "unexpected conflict: {case}");
                            apply::apply(&fx.store, &folder, &outcome.changes, &mut cache, &NoProgress, &interrupt)
                                .expect("apply");
                            assert_eq!(read_state(&folder), want, "{case}");
                        }
                    }
                    fs::remove_dir_all(&folder).expect("clean");
                    cases += 1;
                }
            }
        }
    }
    assert_eq!(cases, 8 * 8 * 8 * 4);
}

/// Seeded xorshift, so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One random edit of a path: new content, deletion, or a new file beside it.
fn edit(root: &Path, path: &str, rng: &mut Rng, tag: &str) {
    let full = root.join(path);
    match rng.below(3) {
        0 => write_file(&full, format!("{tag} {}", rng.next()).as_bytes(), 0o644),
        1 => fs::remove_file(&full).expect("remove"),
        _ => write_file(&full.with_extension(format!("{tag}-new")), tag.as_bytes(), 0o600),
    }
}

#[test]
fn a_change_on_one_side_always_survives() {
    let fx = Fixture::new();
    let interrupt = Interrupt::default();
    for seed in 1..=60u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let base_dir = fx.root.join(format!("base-{seed}"));
        let count = 5 + rng.below(20) as usize;
        let paths: Vec<String> = (0..count).map(|i| format!("d{}/s{}/f{i}", rng.below(3), rng.below(2))).collect();
        for (i, p) in paths.iter().enumerate() {
            fs::create_dir_all(base_dir.join(p).parent().expect("parent")).expect("dirs");
            write_file(&base_dir.join(p), format!("base {i}").as_bytes(), 0o644);
        }
        let copy = |to: &Path| {
            let status = std::process::Command::new("cp").arg("-a").arg(&base_dir).arg(to).status().expect("cp");
            assert!(status.success());
        };
        let (ours_dir, theirs_dir, expect_dir) = (
            fx.root.join(format!("ours-{seed}")),
            fx.root.join(format!("theirs-{seed}")),
            fx.root.join(format!("expect-{seed}")),
        );
        copy(&ours_dir);
        copy(&theirs_dir);
        copy(&expect_dir);
        // Each path is edited by at most one side; the expected folder gets both edits.
        for p in &paths {
            let side = rng.below(3);
            let state = rng.next();
            for (dir, wanted) in [(&ours_dir, 0), (&theirs_dir, 1), (&expect_dir, side)] {
                if side == wanted && side < 2 {
                    edit(dir, p, &mut Rng(state), if side == 0 { "ours" } else { "theirs" });
                }
            }
        }
        let (base_root, _) = fx.snapshot(&base_dir);
        let (theirs_root, _) = fx.snapshot(&theirs_dir);
        let (ours_root, mut cache) = fx.snapshot(&ours_dir);
        let outcome =
            merge(&fx.store, Some(base_root), ours_root, theirs_root, Strategy::Merge, Prefer::Neither).expect("merge");
        assert!(outcome.conflicts.is_empty(), "seed {seed}: disjoint edits conflicted: {:?}", outcome.conflicts);
        apply::apply(&fx.store, &ours_dir, &outcome.changes, &mut cache, &NoProgress, &interrupt).expect("apply");
        let files = |dir: &Path| -> Vec<(String, Vec<u8>)> {
            let mut out = Vec::new();
            let mut stack = vec![dir.to_path_buf()];
            while let Some(d) = stack.pop() {
                for e in fs::read_dir(&d).expect("list") {
                    let e = e.expect("entry");
                    if e.file_type().expect("type").is_dir() {
                        stack.push(e.path());
                    } else {
                        let rel = e.path().strip_prefix(dir).expect("prefix").display().to_string();
                        out.push((rel, fs::read(e.path()).expect("read")));
                    }
                }
            }
            out.sort();
            out
        };
        assert_eq!(files(&ours_dir), files(&expect_dir), "seed {seed}");
    }
}
