//! `pods gc` and `pods versions --drop`: forget versions, then free the store of every
//! blob that no version, synced folder or backup still needs.

use std::collections::HashSet;

use super::{author, find_pod, Env};
use crate::codec::tree::Node;
use crate::error::{Error, Result};
use crate::id::{BlobId, PackId, TreeId};
use crate::remote::{PodMarker, PushRequest};
use crate::store::{GcStats, Store};

/// Packs with at least this share of dead bytes are rewritten.
const REPACK_RATIO: f64 = 0.25;

/// Removes versions `numbers` of pod `name` from its branch (one new commit). The latest
/// version cannot be dropped: it is what the pod is.
pub fn drop_versions(env: &Env, name: &str, numbers: &[u64]) -> Result<Vec<u64>> {
    let pod = find_pod(env.home, name)?;
    let _lock = env.lock()?;
    drop_locked(env, name, &pod, numbers)
}

fn drop_locked(env: &Env, name: &str, pod: &crate::home::PodConfig, numbers: &[u64]) -> Result<Vec<u64>> {
    let remote = env.home.remote(&pod.url)?;
    let store = env.home.store()?;
    let head = remote
        .fetch(&pod.branch, &store, env.progress)?
        .head
        .ok_or_else(|| Error::Remote(format!("pod '{name}' has no versions yet")))?;
    let versions = remote.versions(head, &pod.branch)?;
    let latest = versions.last().map_or(0, |v| v.number);
    let present: HashSet<u64> = versions.iter().map(|v| v.number).collect();
    if let Some(missing) = numbers.iter().find(|n| !present.contains(n)) {
        return Err(Error::UnknownVersion { pod: name.to_string(), version: *missing, latest });
    }
    if numbers.contains(&latest) {
        return Err(Error::Usage(format!(
            "version {latest} is pod '{name}''s latest: push a newer one before dropping it"
        )));
    }
    if numbers.is_empty() {
        return Ok(Vec::new());
    }
    let (author_name, author_email) = author();
    let request = PushRequest {
        branch: &pod.branch,
        parent: Some(head),
        new_packs: &[],
        versions: &[],
        drop_versions: numbers,
        drop_packs: &[],
        rewrite: false,
        marker: &PodMarker { format: crate::remote::REMOTE_FORMAT_VERSION, chunker: store.config.chunker },
        author: (&author_name, &author_email),
    };
    remote.push(&request, &store, env.progress)?;
    Ok(numbers.to_vec())
}

#[derive(Debug, Default, serde::Serialize)]
pub struct GcOutcome {
    pub dropped: Vec<(String, Vec<u64>)>,
    /// With `--remote`: what was rewritten on each pod's branch.
    pub remote: Vec<RemoteGc>,
    pub store: GcStats,
}

#[derive(Debug, serde::Serialize)]
pub struct RemoteGc {
    pub pod: String,
    /// False when the branch held nothing dropped: it was left as it was.
    pub rewritten: bool,
    pub packs_removed: usize,
    pub packs_written: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// Unreachable objects deleted from the remote repository itself (a repository on
    /// this disk); other hosts drop them on their own schedule.
    pub pruned: bool,
}

/// With `keep`, drops all but the newest `keep` versions of every pod first; with
/// `remote`, rewrites each pod's branch without the dropped data; then frees the local
/// store of blobs nothing needs any more.
pub fn gc(env: &Env, keep: Option<usize>, remote: bool) -> Result<GcOutcome> {
    let _lock = env.lock()?;
    let mut outcome = GcOutcome::default();
    let pods = env.home.pods()?;
    if let Some(keep) = keep {
        for (name, pod) in &pods {
            let remote = env.home.remote(&pod.url)?;
            let Some(head) = remote.known_head(&pod.branch)? else { continue };
            let numbers: Vec<u64> = remote.versions(head, &pod.branch)?.iter().map(|v| v.number).collect();
            let old = &numbers[..numbers.len().saturating_sub(keep.max(1))];
            if !old.is_empty() {
                outcome.dropped.push((name.clone(), drop_locked(env, name, pod, old)?));
            }
        }
    }
    if remote {
        for (name, pod) in &pods {
            outcome.remote.push(rewrite_branch(env, name, pod)?);
        }
    }
    let store = env.home.store()?;
    // Live: every version of every pod, and every folder's synced version and backups.
    let mut roots: Vec<TreeId> = Vec::new();
    for pod in pods.values() {
        let remote = env.home.remote(&pod.url)?;
        if let Some(head) = remote.known_head(&pod.branch)? {
            roots.extend(remote.versions(head, &pod.branch)?.iter().map(|v| v.root));
        }
    }
    for state in env.home.all_folder_states()? {
        roots.extend(state.synced.iter().map(|s| s.root));
        roots.extend(state.backups.iter().map(|b| b.root));
    }
    let live = reachable(&store, &roots)?;
    outcome.store = store.collect_garbage(&live, REPACK_RATIO)?;
    Ok(outcome)
}

/// Every blob reachable from `roots`. A tree that cannot be read is an error: collecting
/// garbage from a store that is already damaged could delete what a repair needs.
fn reachable(store: &Store, roots: &[TreeId]) -> Result<HashSet<BlobId>> {
    let mut live = HashSet::new();
    let mut stack: Vec<TreeId> = roots.to_vec();
    while let Some(tree) = stack.pop() {
        if !live.insert(BlobId::from(tree)) {
            continue;
        }
        let listing =
            store.read_tree(&tree).map_err(|e| Error::Corrupt(format!("gc stopped before deleting anything: {e}")))?;
        for entry in listing.entries {
            match entry.node {
                Node::Dir(id) => stack.push(id),
                Node::File { chunks, .. } => live.extend(chunks.into_iter().map(BlobId::from)),
                Node::Symlink(_) => {}
            }
        }
    }
    Ok(live)
}

/// Rewrites pod `name`'s branch as one commit without parent that holds its versions and
/// only the data they need: packs with nothing live are removed, packs partly dead are
/// replaced by new packs of their live blobs. The branch moves only if no one pushed
/// meanwhile. Does nothing when neither the packs nor the history hold dropped data.
fn rewrite_branch(env: &Env, name: &str, pod: &crate::home::PodConfig) -> Result<RemoteGc> {
    let remote = env.home.remote(&pod.url)?;
    let store = env.home.store()?;
    let mut report = RemoteGc {
        pod: name.to_string(),
        rewritten: false,
        packs_removed: 0,
        packs_written: 0,
        bytes_before: 0,
        bytes_after: 0,
        pruned: false,
    };
    let Some(head) = remote.fetch(&pod.branch, &store, env.progress)?.head else { return Ok(report) };
    let roots: Vec<TreeId> = remote.versions(head, &pod.branch)?.iter().map(|v| v.root).collect();
    let live = reachable(&store, &roots)?;
    let mut on_branch: Vec<PackId> = remote.packs(head, &pod.branch)?.into_iter().collect();
    on_branch.sort_unstable();
    let mut drop_packs = Vec::new();
    let mut to_copy = Vec::new();
    for pack in on_branch {
        let entries = store.pack_entries(&pack)?;
        let pack_len = std::fs::metadata(store.pack_path(&pack)).map_or(0, |m| m.len());
        report.bytes_before += pack_len;
        let (live_entries, dead): (Vec<_>, Vec<_>) = entries.into_iter().partition(|e| live.contains(&e.id));
        if dead.is_empty() {
            report.bytes_after += pack_len;
            continue;
        }
        drop_packs.push(pack);
        if !live_entries.is_empty() {
            to_copy.push((pack, live_entries));
        }
    }
    if drop_packs.is_empty() && !remote.history_has_dropped_versions(head, &pod.branch)? {
        report.bytes_after = report.bytes_before;
        return Ok(report);
    }
    env.interrupt.check()?;
    let new_packs = store.repack(&to_copy)?;
    report.bytes_after +=
        new_packs.iter().filter_map(|p| std::fs::metadata(store.pack_path(p)).ok()).map(|m| m.len()).sum::<u64>();
    let (author_name, author_email) = author();
    let request = PushRequest {
        branch: &pod.branch,
        parent: Some(head),
        new_packs: &new_packs,
        versions: &[],
        drop_versions: &[],
        drop_packs: &drop_packs,
        rewrite: true,
        marker: &PodMarker { format: crate::remote::REMOTE_FORMAT_VERSION, chunker: store.config.chunker },
        author: (&author_name, &author_email),
    };
    crate::fault::point("gc-remote-before-push");
    match remote.push(&request, &store, env.progress) {
        Err(Error::RemoteMoved { .. }) => {
            return Err(Error::Usage(format!(
                "pod '{name}' received a push while gc --remote ran, so its branch was left as it was: \
                 run `pods gc --remote` again"
            )))
        }
        other => other?,
    };
    report.rewritten = true;
    report.packs_removed = drop_packs.len();
    report.packs_written = new_packs.len();
    report.pruned = remote.prune()?;
    Ok(report)
}
