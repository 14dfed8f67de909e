//! The three-way merge (`merge::merge_trees`) on three small trees built from the input,
//! held in memory. The changes it returns are applied to a flat picture of "ours" and the
//! result is checked path by path against the merge rules, written out independently:
//! - a path only one side changed ends up as that side has it;
//! - a path both sides changed differently is a conflict (at it or at a parent), and ends
//!   up as ours unless `Prefer::Theirs` took theirs; with `Prefer::Neither` nothing under an
//!   unresolved conflict changes;
//! - with `Strategy::Overwrite` the result is exactly theirs.
//!
//! Input: byte 0 picks the strategy and preference, then three trees in turn, each read by
//! `tree()` below from the bytes that follow (a missing byte reads as 0).
#![no_main]

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use libfuzzer_sys::fuzz_target;
use pods_engine::codec::tree::{Entry, Node, Tree};
use pods_engine::id::{ChunkId, TreeId};
use pods_engine::merge::{merge_trees, Change, Prefer, Resolution, Strategy};
use serde_bytes::ByteBuf;

/// What a path holds, as far as the merge rules care (mtimes are not the user's content).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Leaf {
    File { mode: u32, content: u8 },
    Link(u8),
    Dir { mode: u32 },
}

type Flat = BTreeMap<Vec<u8>, Leaf>;

struct Input<'a> {
    bytes: &'a [u8],
}

impl Input<'_> {
    fn next(&mut self) -> u8 {
        let Some((&b, rest)) = self.bytes.split_first() else { return 0 };
        self.bytes = rest;
        b
    }
}

#[derive(Default)]
struct Trees {
    by_id: HashMap<TreeId, Tree>,
}

impl Trees {
    fn put(&mut self, tree: Tree) -> TreeId {
        let id = TreeId::of(&tree.encode());
        self.by_id.insert(id, tree);
        id
    }
}

const NAMES: [&[u8]; 3] = [b"a", b"b", b"c"];

/// A directory at `depth` (0 = root): for each of three names, one byte says what it is:
/// 0-3 absent, 4-7 a file (two contents × two modes), 8 a link, 9 and up a directory
/// (two modes, two mtimes) read recursively, below depth 2 only.
fn tree(input: &mut Input, trees: &mut Trees, depth: u32) -> TreeId {
    let mut entries = Vec::new();
    for name in NAMES {
        let b = input.next() % 12;
        let mtime_ns = i64::from(b & 1);
        let node_entry = |mode: u32, node: Node| Entry { name: name.to_vec(), mode, mtime_ns, node };
        match b {
            0..=3 => {}
            4..=7 => {
                let content = b & 1;
                let mode = if b & 2 == 0 { 0o644 } else { 0o755 };
                entries.push(node_entry(mode, file_node(content)));
            }
            8 => entries.push(node_entry(0, Node::Symlink(ByteBuf::from(vec![b'0' + (input.next() & 1)])))),
            _ if depth >= 2 => entries.push(node_entry(0o644, file_node(2))),
            _ => {
                let mode = if b & 2 == 0 { 0o755 } else { 0o700 };
                let id = tree(input, trees, depth + 1);
                entries.push(node_entry(mode, Node::Dir(id)));
            }
        }
    }
    trees.put(Tree { entries })
}

fn file_node(content: u8) -> Node {
    Node::File { size: 1, chunks: vec![ChunkId([content; 32])] }
}

fn leaf(entry: &Entry) -> Leaf {
    match &entry.node {
        Node::File { chunks, .. } => Leaf::File { mode: entry.mode, content: chunks[0].0[0] },
        Node::Symlink(target) => Leaf::Link(target[0]),
        Node::Dir(_) => Leaf::Dir { mode: entry.mode },
    }
}

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir.is_empty() {
        name.to_vec()
    } else {
        [dir, b"/", name].concat()
    }
}

/// Every path under `entry` (itself included), as it would be at `path`.
fn flatten_entry(trees: &Trees, path: &[u8], entry: &Entry, out: &mut Flat) {
    out.insert(path.to_vec(), leaf(entry));
    if let Node::Dir(id) = &entry.node {
        flatten(trees, path, *id, out);
    }
}

fn flatten(trees: &Trees, dir: &[u8], id: TreeId, out: &mut Flat) {
    for entry in &trees.by_id[&id].entries {
        flatten_entry(trees, &join(dir, &entry.name), entry, out);
    }
}

fn flat(trees: &Trees, id: TreeId) -> Flat {
    let mut out = Flat::new();
    flatten(trees, b"", id, &mut out);
    out
}

fn under(path: &[u8], top: &[u8]) -> bool {
    path == top || (path.len() > top.len() && path.starts_with(top) && path[top.len()] == b'/')
}

/// What applying `changes` to a folder holding `ours` leaves in it.
fn apply(trees: &Trees, ours: &Flat, changes: &[Change]) -> Flat {
    let mut now = ours.clone();
    for change in changes {
        let from = change.from.as_ref().map(leaf);
        assert_eq!(
            now.get(&change.path),
            from.as_ref(),
            "change at {:?}: `from` is not what the folder has",
            change.path
        );
        match (&change.from, &change.to) {
            // Directory to directory: only its metadata; its content changes by other changes.
            (Some(Entry { node: Node::Dir(_), .. }), Some(to @ Entry { node: Node::Dir(_), .. })) => {
                now.insert(change.path.clone(), leaf(to));
            }
            (_, to) => {
                now.retain(|path, _| !under(path, &change.path));
                if let Some(to) = to {
                    flatten_entry(trees, &change.path, to, &mut now);
                }
            }
        }
    }
    now
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input { bytes: data };
    let mode = input.next();
    let strategy = if mode & 1 == 0 { Strategy::Merge } else { Strategy::Overwrite };
    let prefer = [Prefer::Neither, Prefer::Ours, Prefer::Theirs][usize::from(mode >> 1) % 3];
    let trees = RefCell::new(Trees::default());
    let [base, ours, theirs] = [(); 3].map(|_| tree(&mut input, &mut trees.borrow_mut(), 0));

    let read_tree = |id: TreeId| Ok(trees.borrow().by_id[&id].clone());
    let outcome = merge_trees(&read_tree, Some(base), ours, theirs, strategy, prefer).expect("in-memory trees load");
    let trees = trees.into_inner();
    let (b, o, t) = (flat(&trees, base), flat(&trees, ours), flat(&trees, theirs));
    let result = apply(&trees, &o, &outcome.changes);

    if strategy == Strategy::Overwrite {
        assert_eq!(result, t, "overwrite did not make the folder exactly theirs");
        assert!(outcome.conflicts.is_empty(), "overwrite reported conflicts");
        return;
    }
    for conflict in &outcome.conflicts {
        let expected = match prefer {
            Prefer::Neither => Resolution::Unresolved,
            Prefer::Ours => Resolution::KeptOurs,
            Prefer::Theirs => Resolution::TookTheirs,
        };
        assert_eq!(conflict.resolution, expected, "conflict at {:?} resolved against the preference", conflict.path);
    }
    let conflict_over = |path: &[u8]| outcome.conflicts.iter().any(|c| under(path, &c.path));
    if prefer == Prefer::Neither && outcome.unresolved().next().is_some() {
        // The pull stops: nothing may be applied under an unresolved conflict.
        for change in &outcome.changes {
            assert!(!conflict_over(&change.path), "a change at {:?} under an unresolved conflict", change.path);
        }
    }

    let mut paths: Vec<&Vec<u8>> = b.keys().chain(o.keys()).chain(t.keys()).collect();
    paths.sort_unstable();
    paths.dedup();
    for path in paths {
        let (pb, po, pt) = (b.get(path), o.get(path), t.get(path));
        let got = result.get(path);
        let side = |theirs_wins: bool| if theirs_wins { pt } else { po };
        if conflict_over(path) {
            assert_eq!(got, side(prefer == Prefer::Theirs), "{path:?} under a conflict ({prefer:?})");
        } else if po == pt || pt == pb {
            assert_eq!(got, po, "{path:?}: ours is kept where theirs did not change it");
        } else if po == pb {
            assert_eq!(got, pt, "{path:?}: theirs is taken where ours did not change it");
        } else if let (Some(Leaf::Dir { .. }), Some(Leaf::Dir { .. })) = (po, pt) {
            // Both changed a directory's mode: a directory is kept, with our mode.
            assert_eq!(got, po, "{path:?}: both changed a directory's mode");
        } else {
            panic!(
                "{path:?} was changed by both sides ({pb:?} -> ours {po:?}, theirs {pt:?}) and no conflict covers it"
            );
        }
    }
});
