//! `pods pull`: fetch a version and bring it into the folder, merging with local changes.

use std::path::Path;

use super::{check_data_dir, find_pod, now_ns, snapshot_folder, Env};
use crate::apply;
use crate::error::{Error, Result};
use crate::home::{Backup, Synced};
use crate::merge::{self, Conflict, Outcome, Prefer, Strategy};

/// How many backups of a folder are kept.
pub const KEEP_BACKUPS: usize = 10;

#[derive(Debug, Clone)]
pub struct PullOptions {
    /// A version number; the latest when `None`.
    pub version: Option<u64>,
    pub strategy: Strategy,
    pub prefer: Prefer,
}

#[derive(Debug)]
pub struct PullOutcome {
    pub pod: String,
    pub version: u64,
    pub packs_fetched: usize,
    /// Paths changed in the folder.
    pub changed: usize,
    /// Conflicts that `prefer` resolved (unresolved ones are an error).
    pub conflicts: Vec<Conflict>,
}

pub fn pull(
    env: &Env,
    name: &str,
    data_dir: Option<&Path>,
    options: &PullOptions,
) -> Result<PullOutcome> {
    let data_dir = check_data_dir(data_dir)?;
    let pod = find_pod(env.home, name)?;
    let _lock = env.home.lock(|| {
        env.progress
            .warn("another pods command is using POD_HOME; waiting for it")
    })?;
    let remote = env.home.remote(&pod.url)?;
    let store = env.home.store()?;
    let fetched = remote.fetch(&pod.branch, &store, env.progress)?;
    store.flush()?;
    let head = fetched.head.ok_or_else(|| {
        Error::Remote(format!(
            "pod '{name}' has no versions on {} yet (branch '{}' does not exist): push to it first",
            pod.url, pod.branch
        ))
    })?;
    let versions = remote.versions(head, &pod.branch)?;
    let latest = versions.last().map_or(0, |v| v.number);
    let target = match options.version {
        None => versions.last(),
        Some(n) => versions.iter().find(|v| v.number == n),
    }
    .ok_or(Error::UnknownVersion {
        pod: name.to_string(),
        version: options.version.unwrap_or(0),
        latest,
    })?
    .clone();
    // Every tree of the version must be readable before the folder is touched.
    check_complete(&store, target.root)?;

    let mut state = env.home.folder_state(&data_dir)?;
    let ours = snapshot_folder(env, &store, &data_dir, true)?;
    store.flush()?;
    let base = state
        .synced
        .as_ref()
        .filter(|s| s.url == pod.url && s.branch == pod.branch)
        .map(|s| s.root);
    let outcome = merge::merge(
        &store,
        base,
        ours.root,
        target.root,
        options.strategy,
        options.prefer,
    )?;
    if outcome.unresolved().next().is_some() {
        ours.cache.save(&env.home.files_cache_path(&data_dir)?)?;
        return Err(Error::Conflict(conflict_report(name, &outcome)));
    }
    if !outcome.changes.is_empty() && !ours.stats_empty() && Some(ours.root) != base {
        // The folder has content pods has not recorded: keep it as a backup first.
        state.backups.push(Backup {
            time_ns: now_ns(),
            root: ours.root,
            reason: format!("before pull of {name}@{}", target.number),
        });
        let excess = state.backups.len().saturating_sub(KEEP_BACKUPS);
        state.backups.drain(..excess);
        env.home.save_folder_state(&state)?;
    }
    crate::fault::point("pull-before-apply");
    let mut cache = ours.cache;
    apply::apply(
        &store,
        &data_dir,
        &outcome.changes,
        &mut cache,
        env.progress,
        env.interrupt,
    )?;
    crate::fault::point("pull-before-state");
    cache.save(&env.home.files_cache_path(&data_dir)?)?;
    state.synced = Some(Synced {
        pod: name.to_string(),
        url: pod.url.clone(),
        branch: pod.branch.clone(),
        version: target.number,
        root: target.root,
        commit: head.to_string(),
    });
    env.home.save_folder_state(&state)?;
    Ok(PullOutcome {
        pod: name.to_string(),
        version: target.number,
        packs_fetched: fetched.new_packs,
        changed: outcome.changes.len(),
        conflicts: outcome.conflicts,
    })
}

/// Reads every tree reachable from `root` (each checked against its hash).
fn check_complete(store: &crate::store::Store, root: crate::id::TreeId) -> Result<()> {
    let mut stack = vec![root];
    let mut seen = std::collections::HashSet::new();
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        for entry in store.read_tree(&id)?.entries {
            match entry.node {
                crate::codec::tree::Node::Dir(sub) => stack.push(sub),
                crate::codec::tree::Node::File { chunks, .. } => {
                    if let Some(missing) = chunks
                        .iter()
                        .find(|c| store.location(&(**c).into()).is_none())
                    {
                        return Err(Error::Corrupt(format!(
                            "chunk {} of the pulled version is in no pack",
                            missing.short()
                        )));
                    }
                }
                crate::codec::tree::Node::Symlink(_) => {}
            }
        }
    }
    Ok(())
}

fn conflict_report(name: &str, outcome: &Outcome) -> String {
    let mut report = String::from(
        "the pull stopped before changing anything: these paths changed both here and in the pod\n",
    );
    for conflict in outcome.unresolved() {
        report.push_str(&format!(
            "  {}: {}\n",
            String::from_utf8_lossy(&conflict.path),
            conflict.describe()
        ));
    }
    report.push_str(&format!(
        "Resolve with `pods pull {name} --prefer theirs` (take the pod's side), `--prefer ours` (keep yours), \
         or `--strategy overwrite` (make the folder exactly the pod's version; yours is kept as a backup)"
    ));
    report
}
