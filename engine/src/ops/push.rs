//! `pods push`: snapshot the folder as the pod's next version and push it.

use std::collections::HashSet;
use std::path::Path;

use super::{author, check_data_dir, now_ns, snapshot_folder, Env};
use crate::codec::version::{Stats, Version};
use crate::error::{Error, Result};
use crate::home::{check_pod_name, PodConfig, Synced};
use crate::id::PackId;
use crate::remote::{PodMarker, PushRequest};

#[derive(Debug, Default, Clone)]
pub struct PushOptions {
    pub message: Option<String>,
    /// Record the folder as the next version even if it has not pulled the latest one.
    pub force: bool,
}

#[derive(Debug, Clone)]
pub struct PushOutcome {
    pub pod: String,
    /// The pod did not exist and was created on the embedded default remote.
    pub created: bool,
    /// The version the pod is at after the push.
    pub version: u64,
    /// Nothing changed since that version, so nothing was pushed.
    pub up_to_date: bool,
    pub packs_sent: usize,
    pub bytes_sent: u64,
    pub stats: Stats,
}

pub fn push(
    env: &Env,
    name: &str,
    data_dir: Option<&Path>,
    options: &PushOptions,
) -> Result<PushOutcome> {
    let data_dir = check_data_dir(data_dir)?;
    check_pod_name(name)?;
    let _lock = env.home.lock(|| {
        env.progress
            .warn("another pods command is using POD_HOME; waiting for it")
    })?;
    let mut pods = env.home.pods()?;
    let created = !pods.contains_key(name);
    if created {
        pods.insert(
            name.to_string(),
            PodConfig {
                url: env.home.default_remote_url(),
                branch: name.to_string(),
            },
        );
    }
    if created {
        // Saved before any remote work, so an interrupted first push still leaves the pod defined.
        env.home.save_pods(&pods)?;
    }
    let pod = pods[name].clone();
    let remote = env.home.remote(&pod.url)?;
    let store = env.home.store()?;
    let mut state = env.home.folder_state(&data_dir)?;

    let head = remote.remote_head(&pod.branch)?;
    let synced_commit = state
        .synced
        .as_ref()
        .filter(|s| s.url == pod.url && s.branch == pod.branch)
        .map(|s| s.commit.clone());
    if let Some(head) = head {
        if remote.known_head(&pod.branch)? != Some(head) {
            remote.fetch(&pod.branch, &store, env.progress)?;
        }
    }
    let head_version = match head {
        Some(head) => remote.head_version(head, &pod.branch)?,
        None => None,
    };

    let snapshot = snapshot_folder(env, &store, &data_dir, false)?;
    store.flush()?;
    let cache_path = env.home.files_cache_path(&data_dir)?;
    let synced = |version: &Version, commit: String| Synced {
        pod: name.to_string(),
        url: pod.url.clone(),
        branch: pod.branch.clone(),
        version: version.number,
        root: version.root,
        commit,
    };

    if let (Some(head), Some((_, latest))) = (head, &head_version) {
        if latest.root == snapshot.root {
            // Already recorded (also after a push that was interrupted before saving state).
            snapshot.cache.save(&cache_path)?;
            state.synced = Some(synced(latest, head.to_string()));
            env.home.save_folder_state(&state)?;
            return Ok(PushOutcome {
                pod: name.into(),
                created: false,
                version: latest.number,
                up_to_date: true,
                packs_sent: 0,
                bytes_sent: 0,
                stats: snapshot.stats,
            });
        }
        if synced_commit.as_deref() != Some(head.to_string().as_str()) && !options.force {
            snapshot.cache.save(&cache_path)?;
            let base = match &state.synced {
                Some(s) if s.url == pod.url && s.branch == pod.branch => {
                    format!("last synced with version {}", s.version)
                }
                _ => "has never pulled it".into(),
            };
            return Err(Error::Remote(format!(
                "pod '{name}' is at version {} on {}, but this folder {base}. Run `pods pull {name}` first (it merges), \
                 or `pods push {name} --force` to record this folder as version {} anyway",
                latest.number,
                pod.url,
                latest.number + 1
            )));
        }
    }

    let version = Version {
        number: head_version.as_ref().map_or(1, |(_, v)| v.number + 1),
        parents: head_version.iter().map(|(id, _)| *id).collect(),
        root: snapshot.root,
        time_ns: now_ns(),
        author: author().0,
        message: options.message.clone().unwrap_or_default(),
        stats: snapshot.stats,
    };
    let needed = store.packs_of(&snapshot.blobs)?;
    let present: HashSet<PackId> = match head {
        Some(head) => remote.packs(head, &pod.branch)?,
        None => HashSet::new(),
    };
    let mut new_packs: Vec<PackId> = needed.difference(&present).copied().collect();
    new_packs.sort_unstable();
    let bytes_sent = new_packs
        .iter()
        .filter_map(|p| std::fs::metadata(store.pack_path(p)).ok())
        .map(|m| m.len())
        .sum();
    let marker = PodMarker {
        format: crate::remote::REMOTE_FORMAT_VERSION,
        chunker: store.config.chunker,
    };
    let (author_name, author_email) = author();
    let request = PushRequest {
        branch: &pod.branch,
        parent: head,
        new_packs: &new_packs,
        version: &version,
        marker: &marker,
        author: (&author_name, &author_email),
    };
    env.interrupt.check()?;
    crate::fault::point("push-before-remote");
    let commit = remote.push(&request, &store, env.progress)?;
    crate::fault::point("push-before-state");
    snapshot.cache.save(&cache_path)?;
    state.synced = Some(synced(&version, commit.to_string()));
    env.home.save_folder_state(&state)?;
    Ok(PushOutcome {
        pod: name.into(),
        created,
        version: version.number,
        up_to_date: false,
        packs_sent: new_packs.len(),
        bytes_sent,
        stats: snapshot.stats,
    })
}
