//! End-to-end tests: they drive the real `pods` binary against real git remotes (a bare
//! path, file:// and ssh:// to an sshd the tests start) and check results with plain git.

mod conformance;
mod crash;
mod diff;
mod errors;
mod gc_remote;
mod merge;
mod remote;
mod roundtrip;
mod support;
mod trust;
