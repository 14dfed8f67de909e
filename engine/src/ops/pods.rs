//! Pod and remote definitions: `create`, `delete`, `list`, `versions`, `remote`.

use super::{find_pod, Env};
use crate::codec::version::Version;
use crate::error::{Error, Result};
use crate::home::{check_branch_name, check_pod_name, Home, PodConfig};

/// Defines a pod. `url` may be a remote name from `pods remote add`; none means the
/// embedded default remote. Returns the stored definition.
pub fn create_pod(
    home: &Home,
    name: &str,
    url: Option<&str>,
    branch: Option<&str>,
    exec: Option<&str>,
) -> Result<PodConfig> {
    check_pod_name(name)?;
    let branch = branch.unwrap_or(name);
    check_branch_name(branch)?;
    let mut pods = home.pods()?;
    if let Some(existing) = pods.get(name) {
        return Err(Error::Usage(format!(
            "pod '{name}' already exists ({} branch {}). Delete it first with `pods delete {name}`",
            existing.url, existing.branch
        )));
    }
    let url = match url {
        None => home.default_remote_url(),
        Some(url) => home.remotes()?.get(url).cloned().unwrap_or_else(|| url.to_string()),
    };
    let pod = PodConfig { url, branch: branch.to_string(), exec: exec.map(str::to_string) };
    pods.insert(name.to_string(), pod.clone());
    home.save_pods(&pods)?;
    Ok(pod)
}

/// Forgets a pod; with `on_remote`, also deletes its branch on the remote.
pub fn delete_pod(env: &Env, name: &str, on_remote: bool) -> Result<PodConfig> {
    let pod = find_pod(env.home, name)?;
    let _lock = env.lock()?;
    if on_remote {
        env.home.remote(&pod.url)?.delete_branch(&pod.branch)?;
    }
    let mut pods = env.home.pods()?;
    pods.remove(name);
    env.home.save_pods(&pods)?;
    Ok(pod)
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct PodInfo {
    pub name: String,
    pub backend: &'static str,
    pub url: String,
    pub branch: String,
    /// Bytes of the latest version's files, as last seen (no network).
    pub size: Option<u64>,
    pub state: String,
    pub versions: usize,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RemotePod {
    pub branch: String,
    pub head: String,
    /// The local pod defined on this branch, if any.
    pub local_name: Option<String>,
}

/// The defined pods, from local knowledge only (no network), and, given a remote, the
/// branches found on it.
pub fn list_pods(home: &Home, remote: Option<&str>) -> Result<(Vec<PodInfo>, Vec<RemotePod>)> {
    let pods = home.pods()?;
    let mut infos = Vec::new();
    for (name, pod) in &pods {
        let git = home.remote(&pod.url)?;
        let (size, state, versions) = match git.known_head(&pod.branch)? {
            None => (None, "not pushed yet".to_string(), 0),
            Some(head) => {
                let versions = git.versions(head, &pod.branch)?;
                let latest = versions.last();
                (
                    latest.map(|v| v.stats.bytes),
                    format!("at version {}", latest.map_or(0, |v| v.number)),
                    versions.len(),
                )
            }
        };
        infos.push(PodInfo {
            name: name.clone(),
            backend: if home.is_default_remote(&pod.url) { "default" } else { "git" },
            url: pod.url.clone(),
            branch: pod.branch.clone(),
            size,
            state,
            versions,
        });
    }
    let mut found = Vec::new();
    if let Some(remote) = remote {
        let url = home.remotes()?.get(remote).cloned().unwrap_or_else(|| remote.to_string());
        for (branch, head) in home.remote(&url)?.list_branches()? {
            let local_name = pods.iter().find(|(_, p)| p.url == url && p.branch == branch).map(|(n, _)| n.clone());
            found.push(RemotePod { branch, head: head.to_string(), local_name });
        }
    }
    Ok((infos, found))
}

/// The versions of a pod, after fetching what the remote gained.
pub fn versions(env: &Env, name: &str) -> Result<Vec<Version>> {
    let pod = find_pod(env.home, name)?;
    let _lock = env.lock()?;
    let store = env.home.store()?;
    Ok(super::fetch_versions(env, &store, &pod)?.map(|f| f.versions).unwrap_or_default())
}

pub fn remote_add(home: &Home, name: &str, url: &str) -> Result<()> {
    check_pod_name(name)?;
    let _lock = home.lock(|| {})?;
    let mut remotes = home.remotes()?;
    if let Some(existing) = remotes.get(name) {
        return Err(Error::Usage(format!("remote '{name}' already exists ({existing}): remove it first")));
    }
    remotes.insert(name.to_string(), url.to_string());
    home.save_remotes(&remotes)
}

pub fn remote_remove(home: &Home, name: &str) -> Result<String> {
    let _lock = home.lock(|| {})?;
    let mut remotes = home.remotes()?;
    let url = remotes
        .remove(name)
        .ok_or_else(|| Error::Usage(format!("no remote named '{name}' (see `pods remote list`)")))?;
    home.save_remotes(&remotes)?;
    Ok(url)
}
