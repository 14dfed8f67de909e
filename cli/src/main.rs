//! `pods`: version and share an application's state folder through git.
//! This binary parses arguments and renders results; all logic is in pods-engine.

mod commands;
mod progress;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use pods_engine::progress::Interrupt;

#[derive(Parser)]
#[command(name = "pods", version, about = "Version and share an application's state folder through git")]
pub struct Cli {
    /// Where pods keeps its store and settings [default: $XDG_DATA_HOME/pods or ~/.local/share/pods]
    #[arg(long, global = true, env = "POD_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// The application's state folder
    #[arg(long, global = true, env = "DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Print results as JSON (and progress as JSON lines on stderr)
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Define a pod: a git remote URL and a branch
    Create {
        name: String,
        /// Git URL or remote name [default: the embedded local remote in POD_HOME]
        #[arg(long)]
        url: Option<String>,
        /// Branch on the remote [default: the pod name]
        #[arg(long)]
        branch: Option<String>,
        /// A shell command to run after every successful pull of this pod
        #[arg(long)]
        exec: Option<String>,
    },
    /// Name remote URLs
    #[command(subcommand)]
    Remote(RemoteCommand),
    /// Record DATA_DIR as the pod's next version and push it
    Push {
        name: String,
        /// A message for the version
        #[arg(short, long)]
        message: Option<String>,
        /// Record the folder even though it has not pulled the pod's latest version
        #[arg(long)]
        force: bool,
    },
    /// Bring a version (default: the latest) into DATA_DIR
    Pull {
        /// NAME or NAME@VERSION
        target: String,
        #[arg(long, value_enum, default_value_t = StrategyArg::Merge)]
        strategy: StrategyArg,
        /// How to resolve paths changed both locally and in the pod
        #[arg(long, value_enum)]
        prefer: Option<PreferArg>,
        /// Show what would change, change nothing
        #[arg(long)]
        dry_run: bool,
        /// A shell command to run after a successful pull (gets DATA_DIR, POD_NAME, POD_VERSION)
        #[arg(long)]
        exec: Option<String>,
    },
    /// Show what changed between two versions (NAME, NAME@VERSION, or . for DATA_DIR)
    Diff {
        /// The old side
        a: String,
        /// The new side [default: . (DATA_DIR)]
        b: Option<String>,
        /// Sizes, and bytes that really changed at chunk level
        #[arg(long)]
        stat: bool,
        /// Exit with 1 when there are differences
        #[arg(long)]
        exit_code: bool,
        /// Only these paths (and what is below them)
        #[arg(last = true)]
        paths: Vec<std::path::PathBuf>,
    },
    /// Check that every version can be restored: packs, index, trees, chunks
    Verify {
        /// Only this pod's versions [default: all]
        name: Option<String>,
        /// Also check the remotes (git fsck, and every pack downloaded and checked)
        #[arg(long)]
        remote: bool,
    },
    /// Measure each stage's throughput and end-to-end push and pull on a folder
    Bench {
        /// The folder to measure [default: a generated one]
        path: Option<std::path::PathBuf>,
        /// Size of the generated folder
        #[arg(long, default_value_t = 256)]
        size_mb: u64,
    },
    /// Put DATA_DIR back as it was before the last pull or reset
    Undo {
        /// List the backups instead
        #[arg(long)]
        list: bool,
    },
    /// List pods (and, given a remote, the pods found on it)
    List { remote: Option<String> },
    /// List a pod's versions (or drop some)
    Versions {
        name: String,
        /// Remove these versions from the pod (then `pods gc` frees their data)
        #[arg(long, num_args = 1.., value_name = "VERSION")]
        drop: Vec<u64>,
    },
    /// Free the store of data no version, synced folder or backup needs
    Gc {
        /// First drop all but the newest N versions of every pod
        #[arg(long)]
        keep: Option<usize>,
        /// Also rewrite each pod's branch without the dropped data (one commit, no history;
        /// refused if a teammate pushed meanwhile) and prune a remote on this disk
        #[arg(long)]
        remote: bool,
    },
    /// Empty DATA_DIR (the folder itself stays); a backup is kept
    Reset {
        /// Do not ask for confirmation
        #[arg(long)]
        yes: bool,
    },
    /// Forget a pod
    Delete {
        name: String,
        /// Also delete its branch on the remote
        #[arg(long)]
        remote: bool,
    },
}

#[derive(Subcommand)]
pub enum RemoteCommand {
    Add { name: String, url: String },
    List,
    Remove { name: String },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum StrategyArg {
    /// Apply every non-conflicting change from both sides
    Merge,
    /// Make the folder exactly the pulled version
    Overwrite,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum PreferArg {
    Ours,
    Theirs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let interrupt = Arc::new(Interrupt::default());
    let handler = interrupt.clone();
    let _ = ctrlc::set_handler(move || {
        if handler.check().is_err() {
            // A second Ctrl-C: the user insists. Everything pods writes is atomic.
            std::process::exit(130);
        }
        eprintln!("\ninterrupting at the next safe point (Ctrl-C again to quit at once)");
        handler.trigger();
    });
    let mut stdout = std::io::stdout().lock();
    match commands::run(cli, &interrupt, &mut stdout) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.is::<commands::DiffersExit>() => ExitCode::from(1),
        Err(error) => {
            eprintln!("error: {error:#}");
            let code = match error.downcast_ref::<pods_engine::Error>() {
                Some(pods_engine::Error::Conflict(_)) => 3,
                Some(pods_engine::Error::Interrupted) => 130,
                _ => 1,
            };
            ExitCode::from(code)
        }
    }
}
