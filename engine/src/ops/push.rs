//! `pods push`: snapshot the folder as the pod's next version and push it. When the pod
//! moved since the folder last synced (a teammate pushed), the push merges: it records the
//! folder as a version and, on top, a merge of it with the remote head, so nothing either
//! pusher recorded is lost. Conflicts stop the push before the remote changes.

use std::collections::HashSet;
use std::path::Path;

use super::{author, check_data_dir, now_ns, snapshot_folder, Env};
use crate::codec::tree::Node;
use crate::codec::version::{Stats, Version};
use crate::error::{Error, Result};
use crate::home::{check_pod_name, PodConfig, Synced};
use crate::id::{BlobId, PackId, TreeId};
use crate::merge::{self, Prefer, Strategy};
use crate::remote::{GitRemote, PodMarker, PushRequest};
use crate::snapshot::Snapshot;
use crate::store::Store;

/// How many times a push that lost a race is merged and tried again. Each retry waits a
/// little longer, with jitter, so two pushers in a tight loop do not collide forever.
const MAX_ATTEMPTS: u64 = 10;

#[derive(Debug, Default, Clone)]
pub struct PushOptions {
    pub message: Option<String>,
    /// Record the folder as the next version even if it has not pulled the latest one,
    /// without merging (the folder's content becomes the pod's head).
    pub force: bool,
}

#[derive(Debug, Clone)]
pub struct PushOutcome {
    pub pod: String,
    /// The pod did not exist and was created on the embedded default remote.
    pub created: bool,
    /// The version that records the folder.
    pub version: u64,
    /// When the pod had moved: the merge version recorded on top (the pod's new head).
    pub merged_as: Option<u64>,
    /// Nothing changed since that version, so nothing was pushed.
    pub up_to_date: bool,
    pub packs_sent: usize,
    pub bytes_sent: u64,
    pub stats: Stats,
}

pub fn push(env: &Env, name: &str, data_dir: Option<&Path>, options: &PushOptions) -> Result<PushOutcome> {
    let data_dir = check_data_dir(data_dir)?;
    check_pod_name(name)?;
    let _lock = env.lock()?;
    let mut pods = env.home.pods()?;
    let created = !pods.contains_key(name);
    if created {
        pods.insert(
            name.to_string(),
            PodConfig { url: env.home.default_remote_url(), branch: name.to_string(), exec: None },
        );
        // Saved before any remote work, so an interrupted first push still leaves the pod defined.
        env.home.save_pods(&pods)?;
    }
    let pod = pods[name].clone();
    let remote = env.home.remote(&pod.url)?;
    let store = env.home.store()?;
    let mut state = env.home.folder_state(&data_dir)?;
    let base = state.synced.clone().filter(|s| s.url == pod.url && s.branch == pod.branch);

    let snapshot = snapshot_mirroring(env, &store, &remote, &data_dir)?;
    if snapshot.cache_changed {
        snapshot.cache.save(&env.home.files_cache_path(&data_dir)?)?;
    }

    let mut attempt = 0;
    loop {
        attempt += 1;
        let head = remote.remote_head(&pod.branch)?;
        if let Some(head) = head {
            if remote.known_head(&pod.branch)? != Some(head) {
                remote.fetch(&pod.branch, &store, env.progress)?;
                store.flush()?;
            }
        }
        let head_version = match head {
            Some(head) => remote.head_version(head, &pod.branch)?,
            None => None,
        };
        let synced = |number: u64, root: TreeId, commit: String| Synced {
            pod: name.to_string(),
            url: pod.url.clone(),
            branch: pod.branch.clone(),
            version: number,
            root,
            commit,
        };
        let mut outcome = PushOutcome {
            pod: name.into(),
            created,
            version: 0,
            merged_as: None,
            up_to_date: false,
            packs_sent: 0,
            bytes_sent: 0,
            stats: snapshot.stats,
        };
        let message = options.message.clone().unwrap_or_default();
        // Asking git for the identity costs two processes: only when recording.
        let identity = std::cell::OnceCell::new();
        let who = || identity.get_or_init(author).clone();
        let record = |number: u64, parents, root| Version {
            number,
            parents,
            root,
            time_ns: now_ns(),
            author: who().0,
            message: message.clone(),
            stats: snapshot.stats,
        };

        let versions: Vec<Version> =
            match (head, &head_version) {
                (Some(head), Some((_, latest))) if latest.root == snapshot.root => {
                    // Already recorded (also after a push interrupted before saving state).
                    // Written only when it changes: its two fsyncs were most of an
                    // unchanged push's time while the disk was busy.
                    let now = Some(synced(latest.number, latest.root, head.to_string()));
                    if state.synced != now {
                        state.synced = now;
                        env.home.save_folder_state(&state)?;
                    }
                    outcome.version = latest.number;
                    outcome.up_to_date = true;
                    return Ok(outcome);
                }
                (Some(head), Some((head_id, latest)))
                    if base.as_ref().map(|b| b.commit.as_str()) != Some(&head.to_string()) =>
                {
                    match (&base, options.force) {
                    (_, true) => vec![record(latest.number + 1, vec![*head_id], snapshot.root)],
                    (None, false) => {
                        return Err(Error::Remote(format!(
                            "pod '{name}' is at version {} on {}, but this folder has never pulled it. Run `pods pull {name}` \
                             first (it merges), or `pods push {name} --force` to record this folder as version {} anyway",
                            latest.number,
                            pod.url,
                            latest.number + 1
                        )))
                    }
                    (Some(base), false) => {
                        let ours = merge_with_head(&store, &remote, &pod.branch, head, base, latest, snapshot.root, name)?;
                        let ours_version = record(latest.number + 1, ours.0, snapshot.root);
                        let ours_id = crate::id::VersionId::of(&ours_version.encode());
                        let merged = record(latest.number + 2, vec![*head_id, ours_id], ours.1);
                        vec![ours_version, merged]
                    }
                }
                }
                (_, head_version) => {
                    let number = head_version.as_ref().map_or(1, |(_, v)| v.number + 1);
                    vec![record(number, head_version.iter().map(|(id, _)| *id).collect(), snapshot.root)]
                }
            };

        store.flush()?; // a merge wrote new trees
        if versions.len() > 1 {
            crate::fault::point("push-merged");
        }
        let new_packs = packs_to_send(&store, &remote, head, &pod.branch, &snapshot.blobs, &versions)?;
        outcome.bytes_sent =
            new_packs.iter().filter_map(|p| std::fs::metadata(store.pack_path(p)).ok()).map(|m| m.len()).sum();
        outcome.packs_sent = new_packs.len();
        let marker = PodMarker { format: crate::remote::REMOTE_FORMAT_VERSION, chunker: store.config.chunker };
        let request = PushRequest {
            branch: &pod.branch,
            parent: head,
            new_packs: &new_packs,
            versions: &versions,
            drop_versions: &[],
            drop_packs: &[],
            rewrite: false,
            marker: &marker,
            author: (&who().0, &who().1),
        };
        env.interrupt.check()?;
        crate::fault::point("push-before-remote");
        let commit = match remote.push(&request, &store, env.progress) {
            Err(Error::RemoteMoved { .. }) if attempt < MAX_ATTEMPTS => {
                let jitter = u64::from(std::process::id()) ^ now_ns() as u64;
                std::thread::sleep(std::time::Duration::from_millis(attempt * 100 + jitter % 200));
                continue;
            }
            other => other?,
        };
        crate::fault::point("push-before-state");
        // The folder holds what the first new version records; a merge on top is the
        // pod's head, and the next pull brings its other side into the folder.
        let ours = &versions[0];
        outcome.version = ours.number;
        outcome.merged_as = (versions.len() > 1).then(|| versions[versions.len() - 1].number);
        // After a merge the folder is not at the head: no commit has its version as head,
        // so the next push merges again instead of dropping the other side.
        let synced_commit = if versions.len() > 1 { String::new() } else { commit.to_string() };
        state.synced = Some(synced(ours.number, ours.root, synced_commit));
        env.home.save_folder_state(&state)?;
        return Ok(outcome);
    }
}

/// Snapshots the folder and flushes the store. On the embedded remote, each pack is
/// mirrored into it as soon as it is complete, on a thread of its own: the upload then
/// overlaps the reading, which leaves a core partly idle, instead of following it.
fn snapshot_mirroring(env: &Env, store: &Store, remote: &GitRemote, data_dir: &Path) -> Result<Snapshot> {
    if !remote.is_direct() {
        let snapshot = snapshot_folder(env, store, data_dir, false)?;
        store.flush()?;
        return Ok(snapshot);
    }
    let (announce, announced) = std::sync::mpsc::channel();
    store.announce_packs(Some(announce));
    std::thread::scope(|scope| {
        let mirror = scope.spawn(|| remote.mirror_announced(announced, store));
        let snapshot = snapshot_folder(env, store, data_dir, false).and_then(|s| store.flush().map(|()| s));
        // Dropping the sender ends the mirror once it has written what it was sent.
        store.announce_packs(None);
        let mirrored = mirror.join().expect("the mirror thread does not panic");
        let snapshot = snapshot?;
        mirrored?;
        Ok(snapshot)
    })
}

/// Merges the folder (`ours`) with the remote head against the folder's base. Returns the
/// parents of the folder's version and the merged root. Conflicts are an error: nothing
/// is pushed, and `pods pull` shows and resolves them.
#[allow(clippy::too_many_arguments)]
fn merge_with_head(
    store: &Store,
    remote: &GitRemote,
    branch: &str,
    head: gix::ObjectId,
    base: &Synced,
    latest: &Version,
    ours: TreeId,
    name: &str,
) -> Result<(Vec<crate::id::VersionId>, TreeId)> {
    let outcome = merge::merge(store, Some(base.root), ours, latest.root, Strategy::Merge, Prefer::Neither)?;
    if outcome.unresolved().next().is_some() {
        let paths: Vec<String> =
            outcome.unresolved().map(|c| format!("  {}: {}", String::from_utf8_lossy(&c.path), c.describe())).collect();
        return Err(Error::Conflict(format!(
            "pod '{name}' moved to version {} since this folder synced (version {}), and these paths changed on both sides:\n{}\n\
             Nothing was pushed. Run `pods pull {name}` to resolve them (see --prefer), then push again",
            latest.number,
            base.version,
            paths.join("\n")
        )));
    }
    let merged = crate::tree_edit::apply_to_tree(store, ours, &outcome.changes)?;
    let parent = remote.version_by_number(head, branch, base.version)?.map(|(id, _)| id);
    Ok((parent.into_iter().collect(), merged))
}

/// The packs the new versions need that the branch does not have yet. `folder_blobs` are
/// the blobs of the folder's snapshot; a merged version's other blobs are found by walking
/// its tree, skipping subtrees the folder shares.
fn packs_to_send(
    store: &Store,
    remote: &GitRemote,
    head: Option<gix::ObjectId>,
    branch: &str,
    folder_blobs: &[BlobId],
    versions: &[Version],
) -> Result<Vec<PackId>> {
    let known: HashSet<BlobId> = folder_blobs.iter().copied().collect();
    let present: HashSet<PackId> = match head {
        Some(head) => remote.packs(head, branch)?,
        None => HashSet::new(),
    };
    let mut needed = store.packs_preferring(folder_blobs, &present)?;
    for version in versions {
        let mut extra = Vec::new();
        let mut stack = vec![version.root];
        while let Some(tree) = stack.pop() {
            if known.contains(&tree.into()) {
                continue;
            }
            extra.push(BlobId::from(tree));
            for entry in store.read_tree(&tree)?.entries {
                match entry.node {
                    Node::Dir(id) => stack.push(id),
                    Node::File { chunks, .. } => extra.extend(chunks.into_iter().map(BlobId::from)),
                    Node::Symlink(_) => {}
                }
            }
        }
        needed.extend(store.packs_preferring(&extra, &present)?);
    }
    let mut new_packs: Vec<PackId> = needed.difference(&present).copied().collect();
    new_packs.sort_unstable();
    Ok(new_packs)
}
