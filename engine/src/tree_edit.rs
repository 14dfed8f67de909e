//! Builds a new tree from an old one plus a list of changes, without touching any folder:
//! used to record the result of a merge as a version (concurrent pushers).

use std::collections::BTreeMap;

use crate::codec::tree::{Entry, Node, Tree};
use crate::error::{Error, Result};
use crate::id::TreeId;
use crate::merge::Change;
use crate::store::Store;

/// What happens at one name of one directory.
enum Edit<'a> {
    /// Replace or delete the whole entry.
    Set(Option<&'a Entry>),
    /// Only the directory's mode and mtime change (its content may change below).
    Meta(&'a Entry),
}

/// Applies `changes` (paths relative to `root`) and returns the new root, storing every
/// new tree in `store`.
pub fn apply_to_tree(store: &Store, root: TreeId, changes: &[Change]) -> Result<TreeId> {
    let edits: Vec<(Vec<&[u8]>, Edit)> = changes
        .iter()
        .map(|c| {
            let parts: Vec<&[u8]> = c.path.split(|b| *b == b'/').collect();
            let is_meta = matches!(
                (&c.from, &c.to),
                (Some(Entry { node: Node::Dir(_), .. }), Some(Entry { node: Node::Dir(_), .. }))
            );
            let edit =
                if is_meta { Edit::Meta(c.to.as_ref().expect("meta has a target")) } else { Edit::Set(c.to.as_ref()) };
            (parts, edit)
        })
        .collect();
    let refs: Vec<(&[&[u8]], &Edit)> = edits.iter().map(|(p, e)| (p.as_slice(), e)).collect();
    edit_dir(store, Some(root), &refs)
}

fn edit_dir(store: &Store, dir: Option<TreeId>, edits: &[(&[&[u8]], &Edit)]) -> Result<TreeId> {
    let mut entries: BTreeMap<Vec<u8>, Entry> = match dir {
        Some(id) => store.read_tree(&id)?.entries.into_iter().map(|e| (e.name.clone(), e)).collect(),
        None => BTreeMap::new(),
    };
    // Group by first component: leaf edits here, deeper ones handed to the subdirectory.
    let mut deeper: BTreeMap<&[u8], Vec<(&[&[u8]], &Edit)>> = BTreeMap::new();
    let mut meta: Vec<(&[u8], &Entry)> = Vec::new();
    for (parts, edit) in edits {
        let (first, rest) = parts.split_first().ok_or_else(|| Error::Corrupt("empty change path".into()))?;
        if rest.is_empty() {
            match edit {
                Edit::Set(Some(entry)) => {
                    entries.insert(first.to_vec(), (*entry).clone());
                }
                Edit::Set(None) => {
                    entries.remove(*first);
                }
                Edit::Meta(entry) => meta.push((first, entry)),
            }
        } else {
            deeper.entry(first).or_default().push((rest, edit));
        }
    }
    for (name, sub_edits) in deeper {
        let current = entries.get(name).and_then(|e| match e.node {
            Node::Dir(id) => Some(id),
            _ => None,
        });
        let template = entries.get(name).cloned();
        let id = edit_dir(store, current, &sub_edits)?;
        let mut entry =
            template.unwrap_or(Entry { name: name.to_vec(), mode: 0o755, mtime_ns: 0, node: Node::Dir(id) });
        entry.node = Node::Dir(id);
        entries.insert(name.to_vec(), entry);
    }
    for (name, target) in meta {
        if let Some(entry) = entries.get_mut(name) {
            entry.mode = target.mode;
            entry.mtime_ns = target.mtime_ns;
        }
    }
    store.put_tree(&Tree { entries: entries.into_values().collect() })
}
