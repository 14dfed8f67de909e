//! Git transport through a staging repository per remote URL.
//!
//! gix writes and reads the small objects (trees, commits, version records) in a persistent
//! bare "staging" repository. Packs, the bulk of the data, never stay in git locally: a push
//! or fetch works in a throw-away repository that borrows the staging objects through
//! `objects/info/alternates`, and is deleted afterwards, so the local disk holds each pack
//! once (in the store). The user's `git` does the network part (gix cannot push), which
//! brings their ssh keys, credential helpers and config for free.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::Receiver;
use std::sync::Mutex;

use gix::objs::Write as _;
use gix::ObjectId;

use super::gitpack;
use super::layout::{self, PodMarker, POD_MARKER, REMOTE_FORMAT};
use crate::codec::pack::MAX_PACK_LEN;
use crate::codec::version::Version;
use crate::error::{Error, Result};
use crate::fsio;
use crate::id::{PackId, VersionId};
use crate::progress::{NoProgress, Phase, Progress};
use crate::store::Store;

pub struct GitRemote {
    pub url: String,
    staging: PathBuf,
    /// A repository on this disk that pods owns (the embedded default remote): pushes write
    /// git packs into it directly instead of running `git push` (format-spec/remote.md).
    direct: Option<PathBuf>,
    /// Packs already written into `direct` as git blobs by `mirror_announced`, with their
    /// blob ids: a push only has to name them in its tree.
    mirrored: Mutex<HashMap<PackId, ObjectId>>,
}

/// What a push records.
pub struct PushRequest<'a> {
    pub branch: &'a str,
    /// The remote commit the new one follows (the branch head as last seen), if any.
    pub parent: Option<ObjectId>,
    /// Packs to add to the branch (those it does not have yet).
    pub new_packs: &'a [PackId],
    /// The version records to add; the last one is the new head version.
    pub versions: &'a [Version],
    /// Version records to remove (`pods versions --drop`).
    pub drop_versions: &'a [u64],
    /// Packs to remove from the branch (`pods gc --remote`).
    pub drop_packs: &'a [PackId],
    /// Replace the branch's history: the new commit has no parent, and the branch moves to
    /// it only if it is still at `parent` (`--force-with-lease`).
    pub rewrite: bool,
    pub marker: &'a PodMarker,
    pub author: (&'a str, &'a str),
}

/// The result of a fetch: the branch head, if the branch exists.
pub struct Fetched {
    pub head: Option<ObjectId>,
    /// Packs that were downloaded into the store.
    pub new_packs: usize,
}

fn git_error(action: &'static str, url: &str, message: impl Into<String>) -> Error {
    Error::Git { action, url: url.to_string(), message: message.into() }
}

fn gix_error(url: &str, e: impl std::fmt::Display) -> Error {
    git_error("object access", url, e.to_string())
}

/// The largest blob other than a pack (marker, version record) read from a remote. A
/// version record is a few hundred bytes plus its message.
const MAX_RECORD_LEN: u64 = 16 << 20;

/// Reads a blob fetched from a remote, refusing it before inflating when it is larger
/// than `limit`: zlib shrinks a run of zeros a thousandfold, so a small fetch can hold a
/// blob far larger than memory.
fn read_bounded<'r>(
    repo: &'r gix::Repository,
    id: ObjectId,
    limit: u64,
    what: &str,
    url: &str,
) -> Result<gix::Object<'r>> {
    let size = repo.find_header(id).map_err(|e| gix_error(url, e))?.size();
    if size > limit {
        return Err(Error::Remote(format!(
            "{what} on {url} is {size} bytes, more than the {limit} pods ever writes: refused, nothing was written"
        )));
    }
    repo.find_object(id).map_err(|e| gix_error(url, e))
}

/// A tree fetched from a remote, bounded like any record.
fn read_tree_bounded<'r>(repo: &'r gix::Repository, id: ObjectId, what: &str, url: &str) -> Result<gix::Tree<'r>> {
    read_bounded(repo, id, MAX_RECORD_LEN, what, url)?.try_into_tree().map_err(|e| gix_error(url, e))
}

/// How deep a pod branch's trees may nest: pods writes `packs/<fan>/<pack>`, three levels.
const MAX_TREE_DEPTH: usize = 8;

/// Settings for our own repositories: packs are zstd already, so git must not deflate
/// them again, search for deltas in them, or start background maintenance.
const REPO_CONFIG: &[(&str, &str)] = &[
    ("core.compression", "0"),
    ("pack.compression", "0"),
    ("core.bigFileThreshold", "1m"),
    ("pack.window", "0"),
    ("gc.auto", "0"),
    ("maintenance.auto", "false"),
    ("fetch.writeCommitGraph", "false"),
    ("receive.autogc", "false"),
];

impl GitRemote {
    /// Opens (creating if needed) the staging repository for `url` under `staging_root`.
    pub fn open(staging_root: &Path, url: &str) -> Result<GitRemote> {
        let key = &blake3::hash(url.as_bytes()).to_hex()[..16];
        let staging = staging_root.join(key);
        if !staging.join("HEAD").exists() {
            init_bare(&staging, url)?;
            fsio::write_atomic(&staging.join("pods-url"), url.as_bytes())?;
        }
        Ok(GitRemote { url: url.to_string(), staging, direct: None, mirrored: Mutex::new(HashMap::new()) })
    }

    /// Marks the remote as a repository pods owns on this disk, pushed to directly.
    pub fn owned_locally(mut self, repo: &Path) -> Self {
        self.direct = Some(repo.to_path_buf());
        self
    }

    /// Whether pushes write into a repository on this disk (the embedded default remote).
    pub fn is_direct(&self) -> bool {
        self.direct.is_some()
    }

    /// On the embedded remote, writes each pack announced on `packs` into the repository as
    /// a git blob of its own (one git pack each) until the sender goes away, so a first
    /// push's upload runs while its snapshot still reads. Blobs no commit names yet are
    /// harmless: a crash leaves them unreferenced, and a push that turns out not to need a
    /// pack leaves it so. Elsewhere, packs are only drained.
    pub fn mirror_announced(&self, packs: Receiver<PackId>, store: &Store) -> Result<()> {
        let mut failure = None;
        for pack in packs {
            let Some(repo) = &self.direct else { continue };
            if failure.is_some() || self.mirrored.lock().expect("mirrored lock").contains_key(&pack) {
                continue;
            }
            let path = store.pack_path(&pack);
            let written = fs::metadata(&path).map_err(Error::io("reading pack", &path)).and_then(|meta| {
                write_git_pack(repo, &[(gitpack::Kind::Blob, meta.len(), path)], &NoProgress, &self.url)
            });
            match written {
                Ok(ids) => {
                    self.mirrored.lock().expect("mirrored lock").insert(pack, ids[0]);
                    crate::fault::point("push-pack-mirrored");
                }
                // Keep draining so the store never blocks; the push reports the error.
                Err(e) => failure = Some(e),
            }
        }
        failure.map_or(Ok(()), Err)
    }

    /// Creates the bare repository that serves as the embedded default remote.
    pub fn init_local_remote(path: &Path) -> Result<()> {
        if !path.join("HEAD").exists() {
            init_bare(path, &path.display().to_string())?;
        }
        Ok(())
    }

    fn tracking_ref(branch: &str) -> String {
        format!("refs/pods/{branch}")
    }

    fn repo(&self) -> Result<gix::Repository> {
        gix::open(&self.staging).map_err(|e| gix_error(&self.url, e))
    }

    /// The branch head as of our last fetch or push.
    pub fn known_head(&self, branch: &str) -> Result<Option<ObjectId>> {
        let repo = self.repo()?;
        let reference =
            repo.try_find_reference(Self::tracking_ref(branch).as_str()).map_err(|e| gix_error(&self.url, e))?;
        Ok(reference.and_then(|r| r.target().try_id().map(|id| id.to_owned())))
    }

    fn set_known_head(&self, branch: &str, id: ObjectId) -> Result<()> {
        let repo = self.repo()?;
        repo.reference(Self::tracking_ref(branch), id, gix::refs::transaction::PreviousValue::Any, "pods")
            .map_err(|e| gix_error(&self.url, e))?;
        Ok(())
    }

    /// Branches of the remote and their heads (`git ls-remote`).
    pub fn list_branches(&self) -> Result<Vec<(String, ObjectId)>> {
        let out = run(git_cmd(None).args(["ls-remote", "--heads", &self.url]), "ls-remote", &self.url)?;
        let mut branches = Vec::new();
        for line in out.lines() {
            let Some((id, name)) = line.split_once('\t') else {
                continue;
            };
            let (Some(branch), Ok(id)) = (name.strip_prefix("refs/heads/"), ObjectId::from_hex(id.as_bytes())) else {
                continue;
            };
            branches.push((branch.to_string(), id));
        }
        Ok(branches)
    }

    pub fn remote_head(&self, branch: &str) -> Result<Option<ObjectId>> {
        if let Some(repo) = &self.direct {
            // Our own repository on this disk: read the ref, no git process.
            let repo = gix::open(repo).map_err(|e| gix_error(&self.url, e))?;
            let reference = repo
                .try_find_reference(format!("refs/heads/{branch}").as_str())
                .map_err(|e| gix_error(&self.url, e))?;
            return Ok(reference.and_then(|r| r.target().try_id().map(|id| id.to_owned())));
        }
        Ok(self.list_branches()?.into_iter().find(|(b, _)| b == branch).map(|(_, id)| id))
    }

    /// A throw-away repository that sees the staging objects through alternates.
    fn scratch(&self, purpose: &str) -> Result<Scratch> {
        let path = self.staging.join("scratch").join(format!("{purpose}-{}", std::process::id()));
        if path.exists() {
            let _ = fs::remove_dir_all(&path);
        }
        init_bare(&path, &self.url)?;
        let objects = self.staging.join("objects");
        fs::write(path.join("objects/info/alternates"), format!("{}\n", objects.display()))
            .map_err(Error::io("writing", &path))?;
        Ok(Scratch { path })
    }

    /// Checks the branch on the remote without restoring anything: `git fsck` when the
    /// remote is a repository on this disk, then every pack of the head downloaded in full
    /// (a scratch repository without our objects, so nothing is assumed present) and
    /// checked like an import would. Returns the problems found.
    pub fn verify_remote(&self, branch: &str) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        let local = Path::new(self.url.strip_prefix("file://").unwrap_or(&self.url));
        if local.is_absolute() && local.exists() {
            if let Err(e) = run(
                git_cmd(None).arg("--git-dir").arg(local).args(["fsck", "--strict", "--no-dangling", "--no-progress"]),
                "fsck",
                &self.url,
            ) {
                problems.push(format!("git fsck of {}: {e}", self.url));
            }
        }
        let Some(head) = self.remote_head(branch)? else { return Ok(problems) };
        self.clean_scratch();
        let path = self.staging.join("scratch").join(format!("verify-{}", std::process::id()));
        init_bare(&path, &self.url)?;
        let scratch = Scratch { path };
        self.fetch_branch_into(&scratch.path, branch)?;
        let repo = gix::open(&scratch.path).map_err(|e| gix_error(&self.url, e))?;
        let root = repo
            .find_commit(head)
            .map_err(|e| gix_error(&self.url, e))?
            .tree_id()
            .map_err(|e| gix_error(&self.url, e))?
            .detach();
        let listing = read_pod_tree(&repo, root, &self.url, branch)?;
        for (pack, blob) in &listing.packs {
            let object = match read_bounded(&repo, *blob, MAX_PACK_LEN, &format!("pack {}", pack.short()), &self.url) {
                Ok(object) => object,
                Err(e) => {
                    problems.push(e.to_string());
                    continue;
                }
            };
            if let Err(why) = crate::store::check_pack(pack, &object.data) {
                problems.push(format!("pack {} on {} (branch {branch}): {why}", pack.short(), self.url));
            }
        }
        for (number, blob) in &listing.versions {
            if let Err(e) = self.read_version(&repo, *number, *blob, branch) {
                problems.push(e.to_string());
            }
        }
        Ok(problems)
    }

    /// Fetches `branch` into `repo` as `refs/heads/fetched`.
    fn fetch_branch_into(&self, repo: &Path, branch: &str) -> Result<()> {
        let refspec = format!("+refs/heads/{branch}:refs/heads/fetched");
        let args = ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", &self.url, &refspec];
        run(git_cmd(Some(repo)).args(args), "fetch", &self.url).map(drop)
    }

    /// Removes scratch repositories left by a killed process. Callers hold the home lock.
    pub fn clean_scratch(&self) {
        let _ = fs::remove_dir_all(self.staging.join("scratch"));
    }

    /// Fetches `branch`, imports its new packs into the store (each checked against its
    /// name's hash) and keeps the small objects in the staging repository.
    pub fn fetch(&self, branch: &str, store: &Store, progress: &dyn Progress) -> Result<Fetched> {
        self.clean_scratch();
        let Some(head) = self.remote_head(branch)? else {
            return Ok(Fetched { head: None, new_packs: 0 });
        };
        let mut known = self.known_head(branch)?;
        if known == Some(head) {
            let packs = self.packs(head, branch)?;
            if packs.iter().all(|p| store.has_pack(p)) {
                return Ok(Fetched { head: Some(head), new_packs: 0 });
            }
            // The store lost packs (deleted by hand?): fetch everything again.
            known = None;
        }
        let scratch = self.scratch("fetch")?;
        if let Some(known) = known {
            // Tells git what we have, so only what the remote gained is sent.
            fs::write(scratch.path.join("refs/heads/known"), format!("{known}\n"))
                .map_err(Error::io("writing", &scratch.path))?;
        }
        progress.begin(Phase::Download, 0);
        self.fetch_branch_into(&scratch.path, branch)?;
        crate::fault::point("fetch-received");
        let fetched = gix::open(&scratch.path).map_err(|e| gix_error(&self.url, e))?;
        let staging = self.repo()?;
        let commit = fetched.find_commit(head).map_err(|e| gix_error(&self.url, e))?;
        let root = commit.tree_id().map_err(|e| gix_error(&self.url, e))?.detach();
        let listing = read_pod_tree(&fetched, root, &self.url, branch)?;
        let mut new_packs = 0;
        for (pack, blob) in &listing.packs {
            if store.has_pack(pack) {
                continue;
            }
            let object = read_bounded(&fetched, *blob, MAX_PACK_LEN, &format!("pack {}", pack.short()), &self.url)?;
            progress.advance(object.data.len() as u64);
            store.import_pack(pack, &object.data)?;
            new_packs += 1;
            crate::fault::point("fetch-pack-imported");
        }
        let skip: HashSet<ObjectId> = listing.packs.iter().map(|(_, blob)| *blob).collect();
        copy_history(&fetched, &staging, head, known, &skip, &self.url)?;
        crate::fault::point("fetch-history-copied");
        progress.end(Phase::Download);
        self.set_known_head(branch, head)?;
        drop(scratch);
        Ok(Fetched { head: Some(head), new_packs })
    }

    /// Records a version as a new commit on `branch` and pushes it. The push is a plain
    /// fast-forward: if the branch moved since `parent`, git refuses and nothing changes.
    pub fn push(&self, request: &PushRequest, store: &Store, progress: &dyn Progress) -> Result<ObjectId> {
        self.clean_scratch();
        let mirrored = self.mirrored.lock().expect("mirrored lock").clone();
        let total: u64 = request
            .new_packs
            .iter()
            .filter(|p| !mirrored.contains_key(p))
            .filter_map(|p| fs::metadata(store.pack_path(p)).ok())
            .map(|m| m.len())
            .sum();
        progress.begin(Phase::Upload, total);
        let (scratch, pack_blobs) = match &self.direct {
            Some(repo) => (None, write_packs_direct(repo, request.new_packs, &mirrored, store, progress, &self.url)?),
            None => {
                let scratch = self.scratch("push")?;
                let mut upload = request.new_packs.to_vec();
                if let (true, Some(parent)) = (request.rewrite, request.parent) {
                    // git sends a history unrelated to the remote's in full: it does not
                    // look into the old head's tree for what the remote has. So the packs
                    // the branch keeps go again, and must exist here as git blobs.
                    let mut kept: Vec<PackId> = self.packs(parent, request.branch)?.into_iter().collect();
                    kept.retain(|p| !request.drop_packs.contains(p) && !upload.contains(p));
                    kept.sort_unstable();
                    upload.extend(kept);
                }
                let ids = import_packs(&scratch.path, &upload, store, &self.url)?;
                (Some(scratch), ids)
            }
        };
        crate::fault::point("push-packs-in-git");
        let staging = self.repo()?;
        let err = |e: gix::Error| gix_error(&self.url, e);
        let parent_tree = match request.parent {
            Some(parent) => staging.find_commit(parent).map_err(err)?.tree_id().map_err(err)?.detach(),
            None => ObjectId::empty_tree(gix::hash::Kind::Sha1),
        };
        // Flatten the parent's tree, add the new files, write it back. gix's tree editor
        // insists that every blob exists locally, and pack blobs deliberately do not.
        let mut files = BTreeMap::new();
        flatten_tree(&staging, parent_tree, "", &mut files, &self.url)?;
        let marker = serde_json::to_vec_pretty(request.marker).expect("marker serializes");
        files.insert(POD_MARKER.to_string(), staging.write_blob(&marker).map_err(err)?.detach());
        for (pack, id) in request.new_packs.iter().zip(&pack_blobs) {
            files.insert(layout::pack_path_in_tree(pack), *id);
        }
        for version in request.versions {
            let blob = staging.write_blob(version.encode()).map_err(err)?.detach();
            files.insert(layout::version_path_in_tree(version.number), blob);
        }
        for number in request.drop_versions {
            files.remove(&layout::version_path_in_tree(*number));
        }
        for pack in request.drop_packs {
            files.remove(&layout::pack_path_in_tree(pack));
        }
        let tree = write_tree(&staging, &files, "", &self.url)?;
        let (seconds, message) = match request.versions.last() {
            Some(head) => {
                (head.time_ns / 1_000_000_000, format!("pods: version {}\n\n{}\n", head.number, head.message))
            }
            None if request.rewrite => (
                crate::ops::now_ns() / 1_000_000_000,
                format!("pods: gc --remote (history rewritten, {} packs removed)\n", request.drop_packs.len()),
            ),
            None => {
                let list: Vec<String> = request.drop_versions.iter().map(u64::to_string).collect();
                (crate::ops::now_ns() / 1_000_000_000, format!("pods: drop versions {}\n", list.join(", ")))
            }
        };
        let signature = gix::actor::Signature {
            name: request.author.0.into(),
            email: request.author.1.into(),
            time: gix::date::Time { seconds, offset: 0 },
        };
        let commit = gix::objs::Commit {
            tree,
            parents: if request.rewrite { Default::default() } else { request.parent.into_iter().collect() },
            author: signature.clone(),
            committer: signature,
            encoding: None,
            message: message.into(),
            extra_headers: Vec::new(),
        };
        let commit = staging.write_object(&commit).map_err(err)?.detach();
        let pushed = match (&self.direct, &scratch) {
            (Some(repo), _) => {
                let skip: HashSet<ObjectId> = pack_blobs.iter().copied().collect();
                write_history_direct(repo, &staging, commit, &skip, &self.url)
                    .and_then(|()| update_ref_direct(repo, request.branch, commit, request.parent, &self.url))
            }
            (None, Some(scratch)) => {
                let refspec = format!("{commit}:refs/heads/{}", request.branch);
                let mut push = git_cmd(Some(&scratch.path));
                push.args(["push", "--quiet", "--no-thin"]);
                if request.rewrite {
                    // Non-fast-forward, but only over the head this rewrite started from.
                    let expected = request.parent.map_or_else(String::new, |p| p.to_string());
                    push.arg(format!("--force-with-lease=refs/heads/{}:{expected}", request.branch));
                }
                run(push.args([&self.url, &refspec]), "push", &self.url).map(drop)
            }
            (None, None) => unreachable!("a scratch repository exists unless pushing directly"),
        };
        if let Err(Error::Git { message, .. }) = &pushed {
            if message.contains("fetch first")
                || message.contains("non-fast-forward")
                || message.contains("rejected")
                || message.contains("stale info")
            {
                return Err(Error::RemoteMoved { branch: request.branch.to_string(), url: self.url.clone() });
            }
        }
        pushed?;
        crate::fault::point("push-after-git-push");
        if self.direct.is_none() {
            progress.advance(total);
        }
        progress.end(Phase::Upload);
        self.set_known_head(request.branch, commit)?;
        Ok(commit)
    }

    /// On a remote that is a repository on this disk, deletes the objects no branch
    /// reaches any more (after `gc --remote`), so dropped data is really gone. Returns
    /// false for other remotes: their host prunes on its own schedule.
    pub fn prune(&self) -> Result<bool> {
        let repo = match &self.direct {
            Some(repo) => repo.clone(),
            None => {
                let local = Path::new(self.url.strip_prefix("file://").unwrap_or(&self.url));
                if !(local.is_absolute() && local.join("objects").is_dir()) {
                    return Ok(false);
                }
                local.to_path_buf()
            }
        };
        // Reflogs keep old heads reachable; `repack -a -d` keeps only what refs reach (our
        // REPO_CONFIG: no delta search, no recompression), then loose objects go too.
        run(git_cmd(Some(&repo)).args(["reflog", "expire", "--expire=now", "--all"]), "reflog expire", &self.url)?;
        run(git_cmd(Some(&repo)).args(["repack", "-a", "-d", "-q"]), "repack", &self.url)?;
        run(git_cmd(Some(&repo)).args(["prune", "--expire=now"]), "prune", &self.url)?;
        Ok(true)
    }

    /// Whether any commit before `head` lists a version that `head` no longer has: data
    /// of dropped versions still reachable through the branch's history.
    pub fn history_has_dropped_versions(&self, head: ObjectId, branch: &str) -> Result<bool> {
        let repo = self.repo()?;
        let err = |e: gix::Error| gix_error(&self.url, e);
        let tree_of = |commit: ObjectId| -> Result<ObjectId> {
            Ok(repo.find_commit(commit).map_err(err)?.tree_id().map_err(err)?.detach())
        };
        let current: HashSet<u64> =
            read_pod_tree(&repo, tree_of(head)?, &self.url, branch)?.versions.iter().map(|(n, _)| *n).collect();
        let mut stack: Vec<ObjectId> =
            repo.find_commit(head).map_err(err)?.parent_ids().map(|id| id.detach()).collect();
        let mut seen = HashSet::new();
        while let Some(commit) = stack.pop() {
            if !seen.insert(commit) {
                continue;
            }
            let listing = read_pod_tree(&repo, tree_of(commit)?, &self.url, branch)?;
            if listing.versions.iter().any(|(n, _)| !current.contains(n)) {
                return Ok(true);
            }
            stack.extend(repo.find_commit(commit).map_err(err)?.parent_ids().map(|id| id.detach()));
        }
        Ok(false)
    }

    /// Deletes the branch on the remote and forgets it locally.
    pub fn delete_branch(&self, branch: &str) -> Result<()> {
        let refspec = format!(":refs/heads/{branch}");
        run(git_cmd(None).args(["push", "--quiet", &self.url, &refspec]), "push", &self.url)?;
        let _ = fs::remove_file(self.staging.join(Self::tracking_ref(branch)));
        Ok(())
    }

    /// The latest version of the branch commit `head`, with its id (the hash of the
    /// record's bytes as stored).
    pub fn head_version(&self, head: ObjectId, branch: &str) -> Result<Option<(VersionId, Version)>> {
        let repo = self.repo()?;
        let err = |e: gix::Error| gix_error(&self.url, e);
        let root = repo.find_commit(head).map_err(err)?.tree_id().map_err(err)?.detach();
        let listing = read_pod_tree(&repo, root, &self.url, branch)?;
        match listing.versions.last() {
            None => Ok(None),
            Some(&(number, blob)) => self.read_version(&repo, number, blob, branch).map(Some),
        }
    }

    fn read_version(
        &self,
        repo: &gix::Repository,
        number: u64,
        blob: ObjectId,
        branch: &str,
    ) -> Result<(VersionId, Version)> {
        let object = read_bounded(repo, blob, MAX_RECORD_LEN, &format!("version {number}"), &self.url)?;
        let version = Version::decode(&object.data)
            .map_err(|e| Error::Remote(format!("version {number} of branch '{branch}' on {}: {e}", self.url)))?;
        if version.number != number {
            return Err(Error::Remote(format!(
                "branch '{branch}' on {}: file versions/{number:010} holds version {}",
                self.url, version.number
            )));
        }
        Ok((VersionId::of(&object.data), version))
    }

    /// The versions recorded in the branch commit `head`, in number order.
    pub fn versions(&self, head: ObjectId, branch: &str) -> Result<Vec<Version>> {
        let repo = self.repo()?;
        let err = |e: gix::Error| gix_error(&self.url, e);
        let root = repo.find_commit(head).map_err(err)?.tree_id().map_err(err)?.detach();
        let listing = read_pod_tree(&repo, root, &self.url, branch)?;
        let mut versions = Vec::with_capacity(listing.versions.len());
        for (number, blob) in listing.versions {
            let (_, version) = self.read_version(&repo, number, blob, branch)?;
            versions.push(version);
        }
        Ok(versions)
    }

    /// One version of the branch commit `head` by number, with its id.
    pub fn version_by_number(&self, head: ObjectId, branch: &str, number: u64) -> Result<Option<(VersionId, Version)>> {
        let repo = self.repo()?;
        let err = |e: gix::Error| gix_error(&self.url, e);
        let root = repo.find_commit(head).map_err(err)?.tree_id().map_err(err)?.detach();
        let listing = read_pod_tree(&repo, root, &self.url, branch)?;
        match listing.versions.iter().find(|(n, _)| *n == number) {
            None => Ok(None),
            Some(&(number, blob)) => self.read_version(&repo, number, blob, branch).map(Some),
        }
    }

    /// The packs the branch commit `head` holds.
    pub fn packs(&self, head: ObjectId, branch: &str) -> Result<HashSet<PackId>> {
        let repo = self.repo()?;
        let err = |e: gix::Error| gix_error(&self.url, e);
        let root = repo.find_commit(head).map_err(err)?.tree_id().map_err(err)?.detach();
        Ok(read_pod_tree(&repo, root, &self.url, branch)?.packs.into_iter().map(|(p, _)| p).collect())
    }
}

struct Scratch {
    path: PathBuf,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

fn git_cmd(git_dir: Option<&Path>) -> Command {
    let mut cmd = Command::new("git");
    if let Some(dir) = git_dir {
        cmd.arg("--git-dir").arg(dir);
        for (key, value) in REPO_CONFIG {
            cmd.arg("-c").arg(format!("{key}={value}"));
        }
    }
    // Never wait for a password on a terminal nobody watches; ssh still asks on its own.
    cmd.env("GIT_TERMINAL_PROMPT", "0").stdin(Stdio::null());
    cmd
}

fn run(cmd: &mut Command, action: &'static str, url: &str) -> Result<String> {
    let output = cmd.output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::Usage("git is not installed or not on PATH: install git (e.g. `apt-get install git`)".into())
        } else {
            git_error(action, url, e.to_string())
        }
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
        return Err(git_error(
            action,
            url,
            if stderr.is_empty() { format!("exit status {}", output.status) } else { stderr },
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Creates a bare repository with our settings, atomically: it is set up under a
/// temporary name and renamed into place, so a crash never leaves one without them.
fn init_bare(path: &Path, url: &str) -> Result<()> {
    let tmp = fsio::temp_beside(path);
    fsio::create_dir_all(&tmp)?;
    let result = init_bare_at(&tmp, url).and_then(|()| fs::rename(&tmp, path).map_err(Error::io("creating", path)));
    if result.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    result
}

fn init_bare_at(path: &Path, url: &str) -> Result<()> {
    run(git_cmd(None).args(["init", "--quiet", "--bare"]).arg(path), "init", url)?;
    let mut config = String::from("[core]\n\tcompression = 0\n\tbigFileThreshold = 1m\n[pack]\n\tcompression = 0\n\twindow = 0\n[gc]\n\tauto = 0\n[maintenance]\n\tauto = false\n[receive]\n\tautogc = false\n");
    config.insert_str(0, &fs::read_to_string(path.join("config")).map_err(Error::io("reading", path))?);
    fs::write(path.join("config"), config).map_err(Error::io("writing", path))?;
    Ok(())
}

/// Writes pack files into `repo` as git blobs and returns their ids. `hash-object
/// --stdin-paths` streams each file into a git pack (stored, not deflated: zstd data does
/// not shrink); measured 3x faster than `fast-import`, which buffers and deflates.
fn import_packs(repo: &Path, packs: &[PackId], store: &Store, url: &str) -> Result<Vec<ObjectId>> {
    if packs.is_empty() {
        return Ok(Vec::new());
    }
    let paths: String = packs.iter().map(|p| format!("{}\n", store.pack_path(p).display())).collect();
    let mut child = git_cmd(Some(repo))
        .args(["hash-object", "-w", "--no-filters", "--stdin-paths"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| git_error("hash-object", url, e.to_string()))?;
    let mut input = child.stdin.take().expect("piped stdin");
    // The paths fit in the pipe buffer many times over only for small pushes; write from a
    // thread so a large list cannot deadlock against git's output.
    let writer = std::thread::spawn(move || input.write_all(paths.as_bytes()));
    let output = child.wait_with_output().map_err(|e| git_error("hash-object", url, e.to_string()))?;
    let _ = writer.join();
    if !output.status.success() {
        return Err(git_error("hash-object", url, String::from_utf8_lossy(&output.stderr).trim().to_string()));
    }
    let ids: Vec<ObjectId> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| ObjectId::from_hex(line.trim().as_bytes()))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| git_error("hash-object", url, e.to_string()))?;
    if ids.len() != packs.len() {
        return Err(git_error("hash-object", url, format!("{} ids for {} packs", ids.len(), packs.len())));
    }
    Ok(ids)
}

struct PodTree {
    packs: Vec<(PackId, ObjectId)>,
    versions: Vec<(u64, ObjectId)>,
}

/// Reads and checks a pod branch's tree: the marker, pack names, version names.
fn read_pod_tree(repo: &gix::Repository, root: ObjectId, url: &str, branch: &str) -> Result<PodTree> {
    let err = |e: gix::Error| gix_error(url, e);
    let not_pod = || {
        Error::Remote(format!(
            "branch '{branch}' on {url} is not a pod (no {POD_MARKER} file at its root). Pick another pod name or branch"
        ))
    };
    let bad = |what: String| Error::Remote(format!("branch '{branch}' on {url}: {what}"));
    let tree = read_tree_bounded(repo, root, "the root tree", url)?;
    let decoded = tree.decode().map_err(err)?;
    let entry = |name: &str| decoded.entries.iter().find(|e| e.filename == name).map(|e| e.oid.to_owned());
    let marker_id = entry(POD_MARKER).ok_or_else(not_pod)?;
    let marker: PodMarker =
        serde_json::from_slice(&read_bounded(repo, marker_id, MAX_RECORD_LEN, POD_MARKER, url)?.data)
            .map_err(|e| bad(format!("unreadable {POD_MARKER} file: {e}")))?;
    if marker.format != REMOTE_FORMAT {
        return Err(bad(format!("remote format {}, this pods reads {REMOTE_FORMAT}: upgrade pods", marker.format)));
    }
    let mut listing = PodTree { packs: Vec::new(), versions: Vec::new() };
    if let Some(packs) = entry("packs") {
        for fan in read_tree_bounded(repo, packs, "folder packs", url)?.decode().map_err(err)?.entries {
            let fan_tree = read_tree_bounded(repo, fan.oid.to_owned(), &format!("folder packs/{}", fan.filename), url)?;
            for file in fan_tree.decode().map_err(err)?.entries {
                let name = file.filename.to_string();
                let in_fan = name.get(..2) == Some(&fan.filename.to_string()[..]);
                let pack = layout::parse_pack_name(&name)
                    .filter(|_| in_fan)
                    .ok_or_else(|| bad(format!("unexpected file packs/{}/{name}", fan.filename)))?;
                listing.packs.push((pack, file.oid.to_owned()));
            }
        }
    }
    if let Some(versions) = entry("versions") {
        for file in read_tree_bounded(repo, versions, "folder versions", url)?.decode().map_err(err)?.entries {
            let name = file.filename.to_string();
            let number =
                layout::parse_version_name(&name).ok_or_else(|| bad(format!("unexpected file versions/{name}")))?;
            listing.versions.push((number, file.oid.to_owned()));
        }
    }
    listing.versions.sort_unstable();
    Ok(listing)
}

/// Copies commits from `head` back to `known`, with their trees and small blobs, from the
/// scratch repository into the staging one. Pack blobs (`skip`) stay out.
fn copy_history(
    from: &gix::Repository,
    to: &gix::Repository,
    head: ObjectId,
    known: Option<ObjectId>,
    skip: &HashSet<ObjectId>,
    url: &str,
) -> Result<()> {
    let err = |e: gix::Error| gix_error(url, e);
    let mut queue = vec![head];
    let mut seen = HashSet::new();
    let mut missing = Vec::new();
    while let Some(id) = queue.pop() {
        if Some(id) == known || !seen.insert(id) || to.has_object(id) {
            continue;
        }
        let commit = from.find_commit(id).map_err(err)?;
        queue.extend(commit.parent_ids().map(|p| p.detach()));
        missing.push(id);
    }
    // Oldest first: a commit present in the staging repository implies its ancestors are,
    // even if a crash interrupts the copy.
    for id in missing.into_iter().rev() {
        let commit = from.find_commit(id).map_err(err)?;
        copy_tree(from, to, commit.tree_id().map_err(err)?.detach(), skip, 0, url)?;
        to.objects.write_buf(gix::objs::Kind::Commit, &commit.data).map_err(|e| gix_error(url, e))?;
    }
    Ok(())
}

fn copy_tree(
    from: &gix::Repository,
    to: &gix::Repository,
    id: ObjectId,
    skip: &HashSet<ObjectId>,
    depth: usize,
    url: &str,
) -> Result<()> {
    let err = |e: gix::Error| gix_error(url, e);
    if to.has_object(id) {
        return Ok(());
    }
    if depth > MAX_TREE_DEPTH {
        return Err(Error::Remote(format!(
            "{url} holds folders nested {depth} deep, deeper than a pod's {MAX_TREE_DEPTH}: refused, nothing was written"
        )));
    }
    let tree = read_tree_bounded(from, id, "a folder", url)?;
    for entry in tree.decode().map_err(err)?.entries {
        let oid = entry.oid.to_owned();
        if entry.mode.is_tree() {
            copy_tree(from, to, oid, skip, depth + 1, url)?;
        } else if !skip.contains(&oid) && !to.has_object(oid) {
            let object = read_bounded(from, oid, MAX_RECORD_LEN, &format!("file {}", entry.filename), url)?;
            to.objects.write_buf(object.kind, &object.data).map_err(|e| gix_error(url, e))?;
        }
    }
    to.objects.write_buf(gix::objs::Kind::Tree, &tree.data).map_err(|e| gix_error(url, e))?;
    Ok(())
}

/// Collects `path → blob id` for every file under the tree `id`.
fn flatten_tree(
    repo: &gix::Repository,
    id: ObjectId,
    prefix: &str,
    files: &mut BTreeMap<String, ObjectId>,
    url: &str,
) -> Result<()> {
    if id == ObjectId::empty_tree(gix::hash::Kind::Sha1) {
        return Ok(());
    }
    let err = |e: gix::Error| gix_error(url, e);
    let tree = repo.find_tree(id).map_err(err)?;
    for entry in tree.decode().map_err(err)?.entries {
        let path = format!("{prefix}{}", entry.filename);
        if entry.mode.is_tree() {
            flatten_tree(repo, entry.oid.to_owned(), &format!("{path}/"), files, url)?;
        } else {
            files.insert(path, entry.oid.to_owned());
        }
    }
    Ok(())
}

/// Writes the tree holding the `files` under `prefix` (all paths in `files` start with it)
/// and returns its id. Entries are ordered the way git orders them.
fn write_tree(repo: &gix::Repository, files: &BTreeMap<String, ObjectId>, prefix: &str, url: &str) -> Result<ObjectId> {
    use gix::objs::tree::{Entry, EntryKind};
    let mut entries = Vec::new();
    let mut subdirs: BTreeMap<&str, BTreeMap<String, ObjectId>> = BTreeMap::new();
    for (path, id) in files.range(prefix.to_string()..).take_while(|(p, _)| p.starts_with(prefix)) {
        let rest = &path[prefix.len()..];
        match rest.split_once('/') {
            None => entries.push(Entry { mode: EntryKind::Blob.into(), filename: rest.into(), oid: *id }),
            Some((dir, _)) => {
                subdirs.entry(dir).or_default().insert(path.clone(), *id);
            }
        }
    }
    for (dir, sub) in subdirs {
        let id = write_tree(repo, &sub, &format!("{prefix}{dir}/"), url)?;
        entries.push(Entry { mode: EntryKind::Tree.into(), filename: dir.into(), oid: id });
    }
    // git sorts a directory as if its name ended in '/'.
    entries.sort_by(|a, b| {
        let key = |e: &Entry| {
            let mut k = e.filename.to_vec();
            if e.mode.is_tree() {
                k.push(b'/');
            }
            k
        };
        key(a).cmp(&key(b))
    });
    let tree = gix::objs::Tree { entries };
    Ok(repo.write_object(&tree).map_err(|e| gix_error(url, e))?.detach())
}

/// Writes `packs` straight into `repo` (a repository pods owns on this disk) as git blobs,
/// in one git pack, except those `mirrored` already holds; returns every pack's blob id, in
/// order. The git pack is named by its checksum and becomes visible when its index is
/// renamed into place, as git does it.
fn write_packs_direct(
    repo: &Path,
    packs: &[PackId],
    mirrored: &HashMap<PackId, ObjectId>,
    store: &Store,
    progress: &dyn Progress,
    url: &str,
) -> Result<Vec<ObjectId>> {
    let missing: Vec<&PackId> = packs.iter().filter(|p| !mirrored.contains_key(p)).collect();
    let mut written = HashMap::new();
    if !missing.is_empty() {
        let objects: Result<Vec<(gitpack::Kind, u64, PathBuf)>> = missing
            .iter()
            .map(|p| {
                let path = store.pack_path(p);
                let len = fs::metadata(&path).map_err(Error::io("reading pack", &path))?.len();
                Ok((gitpack::Kind::Blob, len, path))
            })
            .collect();
        let ids = write_git_pack(repo, &objects?, progress, url)?;
        written.extend(missing.into_iter().copied().zip(ids));
    }
    Ok(packs.iter().map(|p| mirrored.get(p).or_else(|| written.get(p)).copied().expect("every pack written")).collect())
}

/// Writes a git pack of `objects` (kind, size, file holding the content) into `repo`.
fn write_git_pack(
    repo: &Path,
    objects: &[(gitpack::Kind, u64, PathBuf)],
    progress: &dyn Progress,
    url: &str,
) -> Result<Vec<ObjectId>> {
    let dir = repo.join("objects/pack");
    let tmp = fsio::temp_beside(&dir.join("pack"));
    let io = |e: std::io::Error| Error::io("writing git pack", &dir)(e);
    let file = fs::File::create(&tmp).map_err(io)?;
    let result = (|| {
        let mut writer =
            gitpack::GitPackWriter::new(std::io::BufWriter::with_capacity(1 << 20, &file), objects.len() as u32)
                .map_err(io)?;
        let mut ids = Vec::with_capacity(objects.len());
        for (kind, size, path) in objects {
            let mut source = fs::File::open(path).map_err(Error::io("reading", path))?;
            ids.push(ObjectId::from_bytes_or_panic(&writer.add(*kind, *size, &mut source).map_err(io)?));
            progress.advance(*size);
        }
        let (checksum, idx) = writer.finish().map_err(io)?;
        file.sync_all().map_err(io)?;
        let name = hex::encode(checksum);
        fs::rename(&tmp, dir.join(format!("pack-{name}.pack"))).map_err(io)?;
        fsio::write_atomic(&dir.join(format!("pack-{name}.idx")), &idx)?;
        Ok(ids)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| match e {
        Error::Io { .. } | Error::DiskFull { .. } => e,
        other => git_error("write", url, other.to_string()),
    })
}

/// Copies the commit and every tree and small blob under it that `repo` lacks (pack
/// blobs, in `skip`, were written already) into `repo` as one git pack.
fn write_history_direct(
    repo: &Path,
    staging: &gix::Repository,
    commit: ObjectId,
    skip: &HashSet<ObjectId>,
    url: &str,
) -> Result<()> {
    let remote = gix::open(repo).map_err(|e| gix_error(url, e))?;
    let err = |e: gix::Error| gix_error(url, e);
    let mut objects: Vec<(gitpack::Kind, Vec<u8>)> = Vec::new();
    let root = staging.find_commit(commit).map_err(err)?;
    objects.push((gitpack::Kind::Commit, root.data.clone()));
    let mut stack = vec![root.tree_id().map_err(err)?.detach()];
    while let Some(id) = stack.pop() {
        if remote.has_object(id) {
            continue;
        }
        let tree = staging.find_tree(id).map_err(err)?;
        for entry in tree.decode().map_err(err)?.entries {
            let oid = entry.oid.to_owned();
            if entry.mode.is_tree() {
                stack.push(oid);
            } else if !skip.contains(&oid) && !remote.has_object(oid) {
                objects.push((gitpack::Kind::Blob, staging.find_object(oid).map_err(err)?.data.clone()));
            }
        }
        objects.push((gitpack::Kind::Tree, tree.data.clone()));
    }
    let dir = repo.join("objects/pack");
    let io = |e: std::io::Error| Error::io("writing git pack", &dir)(e);
    let mut bytes = Vec::new();
    let mut writer = gitpack::GitPackWriter::new(&mut bytes, objects.len() as u32).map_err(io)?;
    for (kind, data) in &objects {
        writer.add(*kind, data.len() as u64, &mut data.as_slice()).map_err(io)?;
    }
    let (checksum, idx) = writer.finish().map_err(io)?;
    let name = hex::encode(checksum);
    fsio::write_atomic(&dir.join(format!("pack-{name}.pack")), &bytes)?;
    fsio::write_atomic(&dir.join(format!("pack-{name}.idx")), &idx)
}

/// Moves `branch` to `commit` if it is still at `parent` (git's own ref locking).
fn update_ref_direct(repo: &Path, branch: &str, commit: ObjectId, parent: Option<ObjectId>, url: &str) -> Result<()> {
    let old = parent.map_or_else(|| "0".repeat(40), |p| p.to_string());
    let name = format!("refs/heads/{branch}");
    let result = run(
        git_cmd(Some(repo)).args(["update-ref", "-m", "pods push", &name, &commit.to_string(), &old]),
        "update-ref",
        url,
    );
    match result {
        Err(Error::Git { message, .. }) if message.contains("expected") || message.contains("exists") => {
            Err(Error::RemoteMoved { branch: branch.to_string(), url: url.to_string() })
        }
        other => other.map(drop),
    }
}
