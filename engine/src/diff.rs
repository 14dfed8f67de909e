//! Differences between two trees, in time proportional to what changed: two subtrees with
//! the same id are identical and never read. Renames are found by content: a deleted and
//! an added path with the same chunks (or the same symlink target).

use std::collections::HashMap;

use crate::codec::tree::{Entry, Node, Tree};
use crate::error::Result;
use crate::id::TreeId;
use crate::store::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Status {
    Added,
    Modified,
    /// Only the permission bits changed.
    ModeChanged,
    Deleted,
    /// File, directory and symlink turned into one another.
    TypeChanged,
    Renamed,
}

impl Status {
    /// The letter `git diff --name-status` uses.
    pub fn letter(self) -> char {
        match self {
            Status::Added => 'A',
            Status::Modified => 'M',
            Status::ModeChanged => 'M',
            Status::Deleted => 'D',
            Status::TypeChanged => 'T',
            Status::Renamed => 'R',
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub status: Status,
    pub path: Vec<u8>,
    /// For renames, where it was.
    pub old_path: Option<Vec<u8>>,
    pub old: Option<Entry>,
    pub new: Option<Entry>,
}

/// Lists files, symlinks and empty directories that differ between `old` and `new`.
/// Only paths equal to or below one of `filters` are reported (all when empty).
pub fn diff(store: &Store, old: TreeId, new: TreeId, filters: &[Vec<u8>]) -> Result<Vec<Difference>> {
    let mut out = Vec::new();
    if old != new {
        walk(store, b"", Some(&store.read_tree(&old)?), Some(&store.read_tree(&new)?), filters, &mut out)?;
    }
    Ok(find_renames(out))
}

/// Whether `path` may hold, or lie under, a path the filters select.
fn wanted(path: &[u8], filters: &[Vec<u8>]) -> bool {
    filters.is_empty()
        || filters.iter().any(|f| {
            let under = |a: &[u8], b: &[u8]| a.len() > b.len() && a.starts_with(b) && a[b.len()] == b'/';
            path == f.as_slice() || under(path, f) || under(f, path)
        })
}

fn selected(path: &[u8], filters: &[Vec<u8>]) -> bool {
    filters.is_empty()
        || filters.iter().any(|f| path == f.as_slice() || (path.starts_with(f) && path.get(f.len()) == Some(&b'/')))
}

fn walk(
    store: &Store,
    rel: &[u8],
    old: Option<&Tree>,
    new: Option<&Tree>,
    filters: &[Vec<u8>],
    out: &mut Vec<Difference>,
) -> Result<()> {
    let empty = Tree::default();
    let (old, new) = (old.unwrap_or(&empty), new.unwrap_or(&empty));
    let (mut i, mut j) = (0, 0);
    // Both listings are sorted by name: a merge walk.
    while i < old.entries.len() || j < new.entries.len() {
        let (o, n) = (old.entries.get(i), new.entries.get(j));
        let order = match (o, n) {
            (Some(o), Some(n)) => o.name.cmp(&n.name),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        let (o, n) = match order {
            std::cmp::Ordering::Less => {
                i += 1;
                (o, None)
            }
            std::cmp::Ordering::Greater => {
                j += 1;
                (None, n)
            }
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
                (o, n)
            }
        };
        let name = o.or(n).expect("one side exists").name.as_slice();
        let path = if rel.is_empty() { name.to_vec() } else { [rel, b"/", name].concat() };
        if !wanted(&path, filters) {
            continue;
        }
        entry_diff(store, path, o, n, filters, out)?;
    }
    Ok(())
}

fn subtree(store: &Store, entry: Option<&Entry>) -> Result<Option<Tree>> {
    match entry {
        Some(Entry { node: Node::Dir(id), .. }) => Ok(Some(store.read_tree(id)?)),
        _ => Ok(None),
    }
}

fn entry_diff(
    store: &Store,
    path: Vec<u8>,
    o: Option<&Entry>,
    n: Option<&Entry>,
    filters: &[Vec<u8>],
    out: &mut Vec<Difference>,
) -> Result<()> {
    let is_dir = |e: Option<&Entry>| matches!(e, Some(Entry { node: Node::Dir(_), .. }));
    let push = |out: &mut Vec<Difference>, status, path: Vec<u8>| {
        if selected(&path, filters) {
            out.push(Difference { status, path, old_path: None, old: o.cloned(), new: n.cloned() });
        }
    };
    match (o, n) {
        (Some(a), Some(b)) if a.node == b.node => {
            if a.mode != b.mode {
                push(out, Status::ModeChanged, path);
            }
        }
        (Some(a), Some(b)) if is_dir(o) && is_dir(n) => {
            if a.mode != b.mode {
                push(out, Status::ModeChanged, path.clone());
            }
            walk(store, &path, subtree(store, o)?.as_ref(), subtree(store, n)?.as_ref(), filters, out)?;
        }
        (Some(a), Some(b)) if a.node.kind_name() == b.node.kind_name() => push(out, Status::Modified, path),
        _ => {
            // Added, deleted, or a change of kind; a directory side lists its content.
            let (old_tree, new_tree) = (subtree(store, o)?, subtree(store, n)?);
            let leaf_status = match (o, n) {
                (None, _) => Status::Added,
                (_, None) => Status::Deleted,
                _ => Status::TypeChanged,
            };
            let empty_dir = |t: &Option<Tree>| t.as_ref().is_some_and(|t| t.entries.is_empty());
            if !is_dir(o) && !is_dir(n)
                || empty_dir(&old_tree)
                || empty_dir(&new_tree)
                || leaf_status == Status::TypeChanged
            {
                push(out, leaf_status, path.clone());
            }
            let has_content = |t: &Option<Tree>| t.as_ref().is_some_and(|t| !t.entries.is_empty());
            if has_content(&old_tree) || has_content(&new_tree) {
                walk(store, &path, old_tree.as_ref(), new_tree.as_ref(), filters, out)?;
            }
        }
    }
    Ok(())
}

/// Pairs deleted and added files or symlinks with the same content into renames.
fn find_renames(differences: Vec<Difference>) -> Vec<Difference> {
    let key = |e: &Entry| match &e.node {
        Node::File { size, chunks } if *size > 0 => Some(format!("f{size}:{chunks:?}")),
        Node::Symlink(target) => Some(format!("l{target:?}")),
        _ => None,
    };
    let mut deleted: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, d) in differences.iter().enumerate() {
        if d.status == Status::Deleted {
            if let Some(k) = d.old.as_ref().and_then(key) {
                deleted.entry(k).or_default().push(i);
            }
        }
    }
    let mut used = vec![false; differences.len()];
    let mut renamed_from: HashMap<usize, usize> = HashMap::new();
    for (i, d) in differences.iter().enumerate() {
        if d.status != Status::Added {
            continue;
        }
        let Some(k) = d.new.as_ref().and_then(key) else { continue };
        if let Some(from) = deleted.get_mut(&k).and_then(|v| v.pop()) {
            used[from] = true;
            renamed_from.insert(i, from);
        }
    }
    let mut out = Vec::with_capacity(differences.len());
    for (i, d) in differences.iter().enumerate() {
        if used[i] {
            continue;
        }
        match renamed_from.get(&i) {
            Some(&from) => out.push(Difference {
                status: Status::Renamed,
                path: d.path.clone(),
                old_path: Some(differences[from].path.clone()),
                old: differences[from].old.clone(),
                new: d.new.clone(),
            }),
            None => out.push(d.clone()),
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}
