//! The remote: a git repository where each pod is a branch. Each push adds one commit whose
//! tree holds every pack the pod's versions need and one record per version, so a push only
//! adds new files and git moves only new objects. Layout: format-spec/remote.md.

mod git;
mod gitpack;
mod layout;

pub use git::{Fetched, GitRemote, PushRequest};
pub use layout::{
    pack_path_in_tree, parse_pack_name, parse_version_name, version_path_in_tree, PodMarker, POD_MARKER,
    REMOTE_FORMAT as REMOTE_FORMAT_VERSION,
};
