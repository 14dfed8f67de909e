//! `pods verify`: check that the store can restore every version it knows of, and name
//! what is affected when it cannot.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::Env;
use crate::codec::tree::Node;
use crate::error::Result;
use crate::id::{BlobId, PackId, TreeId};
use crate::store::{self, Store};

#[derive(Debug, Clone, serde::Serialize)]
pub struct Problem {
    pub what: String,
    /// Versions and paths that cannot be restored because of it.
    pub affected: Vec<String>,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct VerifyReport {
    pub packs: usize,
    pub blobs: usize,
    pub versions: usize,
    pub problems: Vec<Problem>,
}

/// Checks every pack (hash, index, every blob), the index file against the packs, and
/// every version of `pod` (all pods when `None`); with `remote`, the remotes too.
pub fn verify(env: &Env, pod: Option<&str>, remote: bool) -> Result<VerifyReport> {
    let _lock = env.lock()?;
    let mut report = VerifyReport::default();
    // Read the index file before opening the store, which would rebuild a damaged one.
    let index_path = env.home.root().join("store").join("index");
    let index_file = crate::fsio::read_optional(&index_path)?;
    let store = env.home.store()?;

    // 1. Packs: each one whole.
    let mut bad_packs: HashMap<PackId, String> = store.broken_packs().into_iter().collect();
    let mut trailers: HashMap<PackId, HashMap<BlobId, crate::codec::pack::PackEntry>> = HashMap::new();
    for pack in store.pack_ids()? {
        env.interrupt.check()?;
        report.packs += 1;
        let path = store.pack_path(&pack);
        let checked = std::fs::read(&path).map_err(|e| e.to_string()).and_then(|b| store::check_pack(&pack, &b));
        match checked {
            Ok(entries) => {
                report.blobs += entries.len();
                trailers.insert(pack, entries.into_iter().map(|e| (e.id, e)).collect());
            }
            Err(why) => {
                bad_packs.insert(pack, why);
            }
        }
    }
    // 2. The index file against the packs.
    match index_file.as_deref().map(store::decode_index_file) {
        None => report.problems.push(Problem {
            what: "the index file store/index was missing; it was rebuilt from the packs".into(),
            affected: Vec::new(),
        }),
        Some(Err(e)) => report.problems.push(Problem {
            what: format!("the index file store/index was damaged ({e}); it was rebuilt from the packs"),
            affected: Vec::new(),
        }),
        Some(Ok(listed)) => {
            for (pack, entries) in listed {
                let Some(trailer) = trailers.get(&pack) else {
                    if !bad_packs.contains_key(&pack) {
                        report.problems.push(Problem {
                            what: format!("the index lists pack {} which is not in store/packs", pack.short()),
                            affected: Vec::new(),
                        });
                    }
                    continue;
                };
                if entries.iter().any(|e| trailer.get(&e.id) != Some(e)) {
                    report.problems.push(Problem {
                        what: format!("the index disagrees with pack {} about where its blobs are", pack.short()),
                        affected: Vec::new(),
                    });
                }
            }
        }
    }
    // 3. Versions: every tree readable, every chunk in a sound pack.
    let mut affected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let pods = env.home.pods()?;
    for (name, config) in &pods {
        if pod.is_some_and(|p| p != name) {
            continue;
        }
        let git = env.home.remote(&config.url)?;
        let Some(head) = git.known_head(&config.branch)? else { continue };
        for version in git.versions(head, &config.branch)? {
            report.versions += 1;
            let label = format!("{name}@{}", version.number);
            check_tree(&store, &bad_packs, version.root, "", &label, &mut affected)?;
        }
        if remote {
            for what in git.verify_remote(&config.branch)? {
                report.problems.push(Problem { what, affected: vec![format!("pod {name}")] });
            }
        }
    }
    for (pack, why) in &bad_packs {
        let key = format!("pack {}: {why}", pack.short());
        let list = affected.remove(&key).unwrap_or_default();
        report.problems.push(Problem { what: key, affected: list });
    }
    for (what, list) in affected {
        report.problems.push(Problem { what, affected: list });
    }
    Ok(report)
}

/// Walks a version's tree; records each unreadable tree or chunk under the problem that
/// causes it, with the version and path affected.
fn check_tree(
    store: &Store,
    bad_packs: &HashMap<PackId, String>,
    tree: TreeId,
    path: &str,
    label: &str,
    affected: &mut BTreeMap<String, Vec<String>>,
) -> Result<()> {
    let problem_of = |blob: &BlobId| -> Option<String> {
        match store.location(blob) {
            None => Some(format!("blob {} is in no pack", hex::encode(&blob.0[..4]))),
            Some(l) => bad_packs.get(&l.pack).map(|why| format!("pack {}: {why}", l.pack.short())),
        }
    };
    let where_ = if path.is_empty() { "/".to_string() } else { path.to_string() };
    if let Some(problem) = problem_of(&tree.into()) {
        affected.entry(problem).or_default().push(format!("{label}: {where_} (whole directory)"));
        return Ok(());
    }
    let listing = match store.read_tree(&tree) {
        Ok(t) => t,
        Err(e) => {
            affected.entry(e.to_string()).or_default().push(format!("{label}: {where_} (whole directory)"));
            return Ok(());
        }
    };
    let mut seen = HashSet::new();
    for entry in listing.entries {
        let child = format!("{path}{}{}", if path.is_empty() { "" } else { "/" }, String::from_utf8_lossy(&entry.name));
        match entry.node {
            Node::Dir(id) => check_tree(store, bad_packs, id, &child, label, affected)?,
            Node::File { chunks, .. } => {
                for chunk in chunks {
                    if let Some(problem) = problem_of(&chunk.into()) {
                        if seen.insert((problem.clone(), child.clone())) {
                            affected.entry(problem).or_default().push(format!("{label}: {child}"));
                        }
                    }
                }
            }
            Node::Symlink(_) => {}
        }
    }
    Ok(())
}
