//! The pods engine: snapshots of a data folder as content-addressed trees of chunks in
//! packs, shared through git remotes.
//!
//! Layers, each calling only the ones below it: [`codec`] (bytes ↔ records) →
//! [`store`] (packs and index) → [`snapshot`], [`merge`], [`apply`] (trees ↔ folders) →
//! [`remote`] (git) → [`ops`] (what each command does).

pub mod apply;
pub mod chunker;
pub mod codec;
pub mod diff;
pub mod error;
pub mod fault;
pub mod filecache;
pub mod fsio;
pub mod home;
pub mod id;
pub mod merge;
pub mod ops;
pub mod progress;
pub mod remote;
pub mod snapshot;
pub mod store;
pub mod tree_edit;

pub use error::{Error, Result};
