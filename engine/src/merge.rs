//! Three-way merge of trees, per path: base (what the folder last synced with), ours (the
//! folder now), theirs (the version being pulled). The result is data: the changes to make
//! to the folder and the conflicts, each with both sides and how it was resolved.
//! Identical subtrees (same id) are never descended into, so the cost follows the change.

use crate::codec::tree::{Entry, Node, Tree};
use crate::error::Result;
use crate::id::TreeId;
use crate::store::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Apply every non-conflicting change from both sides.
    Merge,
    /// Make the folder exactly the pulled version.
    Overwrite,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefer {
    /// Stop on conflicts.
    Neither,
    Ours,
    Theirs,
}

/// One change to make to the folder: `path` goes from `from` (as on disk) to `to`
/// (`None` deletes it). A directory in `to` that was not a directory before is created
/// with its whole content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub path: Vec<u8>,
    pub from: Option<Entry>,
    pub to: Option<Entry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Not resolved: the pull stops.
    Unresolved,
    KeptOurs,
    TookTheirs,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub path: Vec<u8>,
    pub base: Option<Entry>,
    pub ours: Option<Entry>,
    pub theirs: Option<Entry>,
    pub resolution: Resolution,
}

impl Conflict {
    /// What each side did, in words: "ours modified the file, theirs deleted it".
    pub fn describe(&self) -> String {
        format!("you {}; the pod {}", side(&self.base, &self.ours), side(&self.base, &self.theirs))
    }
}

fn side(base: &Option<Entry>, now: &Option<Entry>) -> String {
    match (base, now) {
        (None, Some(e)) => format!("added a {}", e.node.kind_name()),
        (Some(b), None) => format!("deleted the {}", b.node.kind_name()),
        (Some(b), Some(e)) if b.node.kind_name() != e.node.kind_name() => {
            format!("replaced the {} with a {}", b.node.kind_name(), e.node.kind_name())
        }
        (Some(b), Some(e)) if b.node == e.node => {
            format!("changed the permissions of the {}", e.node.kind_name())
        }
        (Some(_), Some(e)) => format!("modified the {}", e.node.kind_name()),
        (None, None) => "left it absent".into(),
    }
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub changes: Vec<Change>,
    pub conflicts: Vec<Conflict>,
}

impl Outcome {
    pub fn unresolved(&self) -> impl Iterator<Item = &Conflict> {
        self.conflicts.iter().filter(|c| c.resolution == Resolution::Unresolved)
    }
}

/// Merges `theirs` into `ours` against `base`. With [`Strategy::Overwrite`] the base is
/// ours itself, so every difference is taken from theirs.
pub fn merge(
    store: &Store,
    base: Option<TreeId>,
    ours: TreeId,
    theirs: TreeId,
    strategy: Strategy,
    prefer: Prefer,
) -> Result<Outcome> {
    merge_trees(&|id| store.read_tree(&id), base, ours, theirs, strategy, prefer)
}

/// [`merge`] over any source of trees: `read_tree` loads one by id (the fuzz target merges
/// trees held in memory).
pub fn merge_trees(
    read_tree: &dyn Fn(TreeId) -> Result<Tree>,
    base: Option<TreeId>,
    ours: TreeId,
    theirs: TreeId,
    strategy: Strategy,
    prefer: Prefer,
) -> Result<Outcome> {
    let base = if strategy == Strategy::Overwrite { Some(ours) } else { base };
    let mut outcome = Outcome::default();
    let load = |id: Option<TreeId>| -> Result<Tree> { id.map_or(Ok(Tree::default()), read_tree) };
    merge_dirs(&load, b"", load(base)?, load(Some(ours))?, load(Some(theirs))?, prefer, &mut outcome)?;
    Ok(outcome)
}

fn same(a: Option<&Entry>, b: Option<&Entry>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.same_content(b),
        _ => false,
    }
}

fn dir_id(entry: Option<&Entry>) -> Option<TreeId> {
    match entry {
        Some(Entry { node: Node::Dir(id), .. }) => Some(*id),
        _ => None,
    }
}

fn merge_dirs(
    load: &dyn Fn(Option<TreeId>) -> Result<Tree>,
    rel: &[u8],
    base: Tree,
    ours: Tree,
    theirs: Tree,
    prefer: Prefer,
    out: &mut Outcome,
) -> Result<()> {
    let mut names: Vec<&[u8]> =
        base.entries.iter().chain(&ours.entries).chain(&theirs.entries).map(|e| e.name.as_slice()).collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        let (b, o, t) = (base.get(name), ours.get(name), theirs.get(name));
        let dir_mtime_differs = matches!((o, t), (Some(o), Some(t)) if o.mtime_ns != t.mtime_ns);
        if same(o, t) && !(dir_id(o).is_some() && dir_mtime_differs) {
            continue;
        }
        let path = if rel.is_empty() { name.to_vec() } else { [rel, b"/", name].concat() };
        if let (Some(od), Some(td)) = (dir_id(o), dir_id(t)) {
            // Both sides have a directory: merge inside it, then its metadata. A directory's
            // mtime is not something a user makes (writing inside changes it), so the pod's
            // is put back whenever it differs.
            let (o, t) = (o.expect("dir"), t.expect("dir"));
            let before = out.changes.len();
            if od != td {
                merge_dirs(load, &path, load(dir_id(b))?, load(Some(od))?, load(Some(td))?, prefer, out)?;
            }
            // Theirs' mode only if ours still has the base's: a base that was not a
            // directory says nothing about which mode the user chose.
            let take_mode = o.mode != t.mode && dir_id(b).is_some() && b.is_some_and(|b| b.mode == o.mode);
            if take_mode || out.changes.len() > before || dir_mtime_differs {
                let mode = if take_mode { t.mode } else { o.mode };
                let to = Entry { name: t.name.clone(), mode, mtime_ns: t.mtime_ns, node: o.node.clone() };
                out.changes.push(Change { path, from: Some(o.clone()), to: Some(to) });
            }
            continue;
        }
        let change = Change { path: path.clone(), from: o.cloned(), to: t.cloned() };
        if same(b, o) {
            out.changes.push(change);
        } else if same(b, t) {
            // Only ours changed it: keep ours.
        } else {
            let resolution = match prefer {
                Prefer::Neither => Resolution::Unresolved,
                Prefer::Ours => Resolution::KeptOurs,
                Prefer::Theirs => Resolution::TookTheirs,
            };
            if resolution == Resolution::TookTheirs {
                out.changes.push(change);
            }
            out.conflicts.push(Conflict { path, base: b.cloned(), ours: o.cloned(), theirs: t.cloned(), resolution });
        }
    }
    Ok(())
}
