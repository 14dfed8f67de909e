//! `pods pull`: fetch a version and bring it into the folder, merging with local changes.

use std::path::Path;

use super::{check_data_dir, find_pod, now_ns, record_backup, snapshot_folder, Env};
use crate::apply;
use crate::codec::tree::{Entry, Node};
use crate::error::{Error, Result};
use crate::home::{Backup, Synced};
use crate::merge::{self, Change, Conflict, Outcome, Prefer, Strategy};

#[derive(Debug, Clone)]
pub struct PullOptions {
    /// A version number; the latest when `None`.
    pub version: Option<u64>,
    pub strategy: Strategy,
    pub prefer: Prefer,
    /// Report what would change, change nothing.
    pub dry_run: bool,
    /// Run after a successful pull (overrides the pod's setting).
    pub exec: Option<String>,
}

/// One line of a dry run (and of a pull's report).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Planned {
    pub path: String,
    /// added, modified, deleted, type changed, mode changed, directory metadata, conflict.
    pub action: &'static str,
    pub kind: &'static str,
    pub size_before: Option<u64>,
    pub size_after: Option<u64>,
}

#[derive(Debug)]
pub struct PullOutcome {
    pub pod: String,
    pub version: u64,
    pub packs_fetched: usize,
    pub planned: Vec<Planned>,
    /// Conflicts that `prefer` resolved (unresolved ones are an error).
    pub conflicts: Vec<Conflict>,
    /// Exit status of the --exec command, if one ran.
    pub exec_status: Option<i32>,
}

pub fn pull(env: &Env, name: &str, data_dir: Option<&Path>, options: &PullOptions) -> Result<PullOutcome> {
    let data_dir = check_data_dir(data_dir)?;
    let pod = find_pod(env.home, name)?;
    let _lock = env.lock()?;
    let store = env.home.store()?;
    let fetched = super::fetch_versions(env, &store, &pod)?.ok_or_else(|| {
        Error::Remote(format!(
            "pod '{name}' has no versions on {} yet (branch '{}' does not exist): push to it first",
            pod.url, pod.branch
        ))
    })?;
    let (head, target) = (fetched.head, super::pick_version(&fetched.versions, name, options.version)?);
    // Every tree of the version must be readable before the folder is touched.
    check_complete(&store, target.root)?;

    let mut state = env.home.folder_state(&data_dir)?;
    let ours = snapshot_folder(env, &store, &data_dir, !options.dry_run)?;
    store.flush()?;
    let base = state.synced.as_ref().filter(|s| s.url == pod.url && s.branch == pod.branch).map(|s| s.root);
    let outcome = merge::merge(&store, base, ours.root, target.root, options.strategy, options.prefer)?;
    let mut planned = plan(&outcome);
    if options.dry_run {
        return Ok(PullOutcome {
            pod: name.to_string(),
            version: target.number,
            packs_fetched: fetched.new_packs,
            planned,
            conflicts: outcome.conflicts,
            exec_status: None,
        });
    }
    if outcome.unresolved().next().is_some() {
        ours.cache.save(&env.home.files_cache_path(&data_dir)?)?;
        return Err(Error::Conflict(conflict_report(name, &outcome)));
    }
    if !outcome.changes.is_empty() && !ours.stats_empty() {
        // Whatever the pull replaces can be brought back with `pods undo`.
        let backup = Backup {
            time_ns: now_ns(),
            root: ours.root,
            reason: format!("before pull of {name}@{}", target.number),
            synced: state.synced.clone(),
        };
        record_backup(env.home, &mut state, backup)?;
    }
    crate::fault::point("pull-before-apply");
    let mut cache = ours.cache;
    apply::apply(&store, &data_dir, &outcome.changes, &mut cache, env.progress, env.interrupt)?;
    crate::fault::point("pull-before-state");
    cache.save(&env.home.files_cache_path(&data_dir)?)?;
    state.resetting = false;
    state.synced = Some(Synced {
        pod: name.to_string(),
        url: pod.url.clone(),
        branch: pod.branch.clone(),
        version: target.number,
        root: target.root,
        commit: head.to_string(),
    });
    env.home.save_folder_state(&state)?;
    planned.retain(|p| p.action != "conflict");
    let exec_status = match options.exec.as_ref().or(pod.exec.as_ref()) {
        Some(command) => Some(run_exec(command, &data_dir, name, target.number)?),
        None => None,
    };
    Ok(PullOutcome {
        pod: name.to_string(),
        version: target.number,
        packs_fetched: fetched.new_packs,
        planned,
        conflicts: outcome.conflicts,
        exec_status,
    })
}

/// Runs the reload command with the folder, pod and version in its environment.
fn run_exec(command: &str, data_dir: &Path, pod: &str, version: u64) -> Result<i32> {
    let status = std::process::Command::new("sh")
        .args(["-c", command])
        .env("DATA_DIR", data_dir)
        .env("POD_NAME", pod)
        .env("POD_VERSION", version.to_string())
        .status()
        .map_err(|e| Error::Usage(format!("could not run the --exec command `{command}`: {e}")))?;
    Ok(status.code().unwrap_or(-1))
}

fn size_of(entry: Option<&Entry>) -> Option<u64> {
    match entry {
        Some(Entry { node: Node::File { size, .. }, .. }) => Some(*size),
        _ => None,
    }
}

/// Describes each change and conflict of a merge as the user sees it.
pub fn plan(outcome: &Outcome) -> Vec<Planned> {
    let describe = |change: &Change| -> Planned {
        let (from, to) = (change.from.as_ref(), change.to.as_ref());
        let action = match (from, to) {
            (None, Some(_)) => "added",
            (Some(_), None) => "deleted",
            (Some(f), Some(t)) if f.node.kind_name() != t.node.kind_name() => "type changed",
            (Some(Entry { node: Node::Dir(_), .. }), Some(_)) => "directory metadata",
            (Some(f), Some(t)) if f.node == t.node => "mode changed",
            _ => "modified",
        };
        Planned {
            path: String::from_utf8_lossy(&change.path).into_owned(),
            action,
            kind: to.or(from).map_or("file", |e| e.node.kind_name()),
            size_before: size_of(from),
            size_after: size_of(to),
        }
    };
    // A directory whose metadata ends up as it was is bookkeeping (its mtime is put back
    // after writing inside it), not something the user would see change.
    let visible = |c: &&Change| match (&c.from, &c.to) {
        (Some(f @ Entry { node: Node::Dir(_), .. }), Some(t @ Entry { node: Node::Dir(_), .. })) => {
            f.mode != t.mode || f.mtime_ns != t.mtime_ns
        }
        _ => true,
    };
    let mut planned: Vec<Planned> = outcome.changes.iter().filter(visible).map(describe).collect();
    for conflict in outcome.unresolved() {
        planned.push(Planned {
            path: String::from_utf8_lossy(&conflict.path).into_owned(),
            action: "conflict",
            kind: conflict.theirs.as_ref().or(conflict.ours.as_ref()).map_or("file", |e| e.node.kind_name()),
            size_before: size_of(conflict.ours.as_ref()),
            size_after: size_of(conflict.theirs.as_ref()),
        });
    }
    planned.sort_by(|a, b| a.path.cmp(&b.path));
    planned
}

/// Reads every tree reachable from `root` (each checked against its hash) and checks that
/// every chunk is in some pack.
fn check_complete(store: &crate::store::Store, root: crate::id::TreeId) -> Result<()> {
    let mut stack = vec![root];
    let mut seen = std::collections::HashSet::new();
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        for entry in store.read_tree(&id)?.entries {
            match entry.node {
                Node::Dir(sub) => stack.push(sub),
                Node::File { chunks, .. } => {
                    if let Some(missing) = chunks.iter().find(|c| store.location(&(**c).into()).is_none()) {
                        return Err(Error::Corrupt(format!(
                            "chunk {} of the pulled version is in no pack",
                            missing.short()
                        )));
                    }
                }
                Node::Symlink(_) => {}
            }
        }
    }
    Ok(())
}

fn conflict_report(name: &str, outcome: &Outcome) -> String {
    let mut report =
        String::from("the pull stopped before changing anything: these paths changed both here and in the pod\n");
    for conflict in outcome.unresolved() {
        report.push_str(&format!("  {}: {}\n", String::from_utf8_lossy(&conflict.path), conflict.describe()));
    }
    report.push_str(&format!(
        "Resolve with `pods pull {name} --prefer theirs` (take the pod's side), `--prefer ours` (keep yours), \
         or `--strategy overwrite` (make the folder exactly the pod's version); whatever is replaced is kept \
         for `pods undo`"
    ));
    report
}
