//! One function per command: options in, text or JSON out.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use pods_engine::home::Home;
use pods_engine::merge::{Prefer, Resolution, Strategy};
use pods_engine::ops::{self, Env, PullOptions, PushOptions};
use pods_engine::progress::Interrupt;
use serde_json::json;

use crate::progress::{human_bytes, Renderer};
use crate::{Cli, Command, PreferArg, RemoteCommand, StrategyArg};

fn default_home() -> Result<PathBuf> {
    if let Some(data) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(data).join("pods"));
    }
    let home = std::env::var_os("HOME").context("neither POD_HOME, XDG_DATA_HOME nor HOME is set: pass --home DIR")?;
    Ok(PathBuf::from(home).join(".local/share/pods"))
}

pub fn run(cli: Cli, interrupt: &Interrupt, out: &mut dyn Write) -> Result<()> {
    let home_dir = match cli.home {
        Some(dir) => dir,
        None => default_home()?,
    };
    let home = Home::open(&home_dir)?;
    let renderer = Renderer::new(cli.json);
    let env = Env { home: &home, progress: &renderer, interrupt };
    let data_dir = cli.data_dir.as_deref();
    let json = cli.json;
    match cli.command {
        Command::Create { name, url, branch, exec } => {
            let pod = ops::create_pod(&home, &name, url.as_deref(), branch.as_deref(), exec.as_deref())?;
            if json {
                writeln!(out, "{}", json!({"name": name, "url": pod.url, "branch": pod.branch}))?;
            } else {
                writeln!(out, "created pod '{name}' on {} (branch {})", pod.url, pod.branch)?;
            }
        }
        Command::Remote(command) => remote(&home, command, json, out)?,
        Command::Push { name, message, force } => {
            let outcome = ops::push(&env, &name, data_dir, &PushOptions { message, force })?;
            if json {
                writeln!(
                    out,
                    "{}",
                    json!({
                        "pod": outcome.pod, "version": outcome.version, "created": outcome.created,
                        "up_to_date": outcome.up_to_date, "packs_sent": outcome.packs_sent, "merged_as": outcome.merged_as,
                        "bytes_sent": outcome.bytes_sent, "files": outcome.stats.files, "bytes": outcome.stats.bytes,
                    })
                )?;
            } else {
                if outcome.created {
                    writeln!(out, "pod '{name}' did not exist: created it on the embedded default remote")?;
                }
                if outcome.up_to_date {
                    writeln!(out, "nothing changed: pod '{name}' is at version {}", outcome.version)?;
                } else if let Some(merged) = outcome.merged_as {
                    writeln!(
                        out,
                        "pod '{name}' had moved: pushed this folder as version {} and its merge with the other side \
                         as version {merged}. Run `pods pull {name}` to bring their changes into this folder",
                        outcome.version
                    )?;
                } else {
                    writeln!(
                        out,
                        "pushed '{name}' version {}: {} files, {}; sent {} in {} pack(s)",
                        outcome.version,
                        outcome.stats.files,
                        human_bytes(outcome.stats.bytes),
                        human_bytes(outcome.bytes_sent),
                        outcome.packs_sent
                    )?;
                }
            }
        }
        Command::Pull { target, strategy, prefer, dry_run, exec } => {
            let (name, version) = match target.split_once('@') {
                Some((name, v)) => {
                    let v = v.parse::<u64>().with_context(|| format!("'{v}' is not a version number (use NAME@3)"))?;
                    (name.to_string(), Some(v))
                }
                None => (target, None),
            };
            let options = PullOptions {
                version,
                strategy: match strategy {
                    StrategyArg::Merge => Strategy::Merge,
                    StrategyArg::Overwrite => Strategy::Overwrite,
                },
                prefer: match prefer {
                    None => Prefer::Neither,
                    Some(PreferArg::Ours) => Prefer::Ours,
                    Some(PreferArg::Theirs) => Prefer::Theirs,
                },
                dry_run,
                exec,
            };
            let outcome = ops::pull(&env, &name, data_dir, &options)?;
            pull_report(&outcome, dry_run, json, out)?;
            if let Some(code) = outcome.exec_status.filter(|c| *c != 0) {
                bail!("the pull succeeded, but the --exec command failed (exit status {code})");
            }
        }
        Command::Diff { a, b, stat, exit_code, paths } => {
            let old = ops::Side::parse(&a)?;
            let new = ops::Side::parse(b.as_deref().unwrap_or("."))?;
            let filters: Vec<Vec<u8>> = paths
                .iter()
                .map(|p| {
                    use std::os::unix::ffi::OsStrExt;
                    p.as_os_str()
                        .as_bytes()
                        .trim_ascii_end()
                        .strip_suffix(b"/")
                        .unwrap_or(p.as_os_str().as_bytes())
                        .to_vec()
                })
                .collect();
            let stats = ops::diff(&env, &old, &new, data_dir, &filters)?;
            diff_report(&stats, stat, json, out)?;
            if exit_code && !stats.is_empty() {
                return Err(anyhow::Error::new(DiffersExit));
            }
        }
        Command::Verify { name, remote } => {
            let report = ops::verify(&env, name.as_deref(), remote)?;
            if json {
                writeln!(out, "{}", json!(report))?;
            } else {
                writeln!(
                    out,
                    "checked {} pack(s), {} blob(s), {} version(s): {}",
                    report.packs,
                    report.blobs,
                    report.versions,
                    if report.problems.is_empty() {
                        "no problems".to_string()
                    } else {
                        format!("{} problem(s)", report.problems.len())
                    }
                )?;
                for problem in &report.problems {
                    writeln!(out, "problem: {}", problem.what)?;
                    for a in problem.affected.iter().take(20) {
                        writeln!(out, "  affects {a}")?;
                    }
                    if problem.affected.len() > 20 {
                        writeln!(out, "  ... and {} more", problem.affected.len() - 20)?;
                    }
                }
            }
            if !report.problems.is_empty() {
                bail!("verify found {} problem(s)", report.problems.len());
            }
        }
        Command::Bench { path, size_mb } => {
            let scratch = std::env::temp_dir();
            let report = ops::bench(path.as_deref(), size_mb, &scratch, &renderer)?;
            if json {
                writeln!(out, "{}", json!(report))?;
            } else {
                writeln!(
                    out,
                    "{} ({}): {} files, {} — {} CPUs",
                    report.folder.display(),
                    if report.generated { "generated" } else { "given" },
                    report.files,
                    human_bytes(report.bytes),
                    std::thread::available_parallelism().map_or(1, |n| n.get())
                )?;
                let rows: Vec<Vec<String>> = report
                    .stages
                    .iter()
                    .map(|s| {
                        vec![
                            s.stage.to_string(),
                            format!("{:.3}", s.seconds),
                            if s.bytes > 0 { format!("{:.0}", s.mb_per_s()) } else { "-".into() },
                            if s.files > 0 { format!("{:.0}", s.files_per_s()) } else { "-".into() },
                            s.peak_rss.map_or("-".into(), human_bytes),
                        ]
                    })
                    .collect();
                table(out, &["Stage", "Seconds", "MB/s", "Files/s", "Peak RSS"], &rows)?;
            }
        }
        Command::Undo { list } => {
            let (backups, undone) = ops::undo(&env, data_dir, list)?;
            if json {
                let list: Vec<_> = backups
                    .iter()
                    .map(|b| json!({"time_ns": b.time_ns, "reason": b.reason, "root": b.root.to_hex()}))
                    .collect();
                let restored = undone.as_ref().map(|u| json!({"reason": u.restored.reason, "changed": u.changed}));
                writeln!(out, "{}", json!({"restored": restored, "backups": list}))?;
            } else if let Some(undone) = undone {
                writeln!(
                    out,
                    "restored the folder as it was {} ({}): {} path(s) changed",
                    format_time(undone.restored.time_ns),
                    undone.restored.reason,
                    undone.changed
                )?;
            } else if backups.is_empty() {
                writeln!(out, "no backups of this folder")?;
            } else {
                let rows: Vec<Vec<String>> = backups
                    .iter()
                    .rev()
                    .enumerate()
                    .map(|(i, b)| vec![(i + 1).to_string(), format_time(b.time_ns), b.reason.clone()])
                    .collect();
                table(out, &["#", "Taken (UTC)", "Reason"], &rows)?;
            }
        }
        Command::List { remote } => {
            let (pods, found) = ops::list_pods(&home, remote.as_deref())?;
            if json {
                writeln!(out, "{}", json!({"pods": pods, "remote": found}))?;
            } else {
                let rows: Vec<Vec<String>> = pods
                    .iter()
                    .map(|p| {
                        vec![
                            p.name.clone(),
                            p.backend.to_string(),
                            format!("{} ({})", p.url, p.branch),
                            p.size.map_or("-".into(), human_bytes),
                            p.state.clone(),
                            p.versions.to_string(),
                        ]
                    })
                    .collect();
                table(out, &["Name", "Backend", "URL (branch)", "Size", "State", "Versions"], &rows)?;
                if let Some(remote) = remote {
                    writeln!(out, "\nbranches on {remote}:")?;
                    let rows: Vec<Vec<String>> = found
                        .iter()
                        .map(|f| {
                            vec![f.branch.clone(), f.head[..12].to_string(), f.local_name.clone().unwrap_or("-".into())]
                        })
                        .collect();
                    table(out, &["Branch", "Head", "Local pod"], &rows)?;
                }
            }
        }
        Command::Gc { keep, remote } => {
            let outcome = ops::gc(&env, keep, remote)?;
            if json {
                writeln!(out, "{}", json!(outcome))?;
            } else {
                for (pod, dropped) in &outcome.dropped {
                    writeln!(out, "dropped {} old version(s) of '{pod}'", dropped.len())?;
                }
                for r in &outcome.remote {
                    if !r.rewritten {
                        writeln!(out, "pod '{}': its branch holds no dropped data, left as it was", r.pod)?;
                        continue;
                    }
                    writeln!(
                        out,
                        "pod '{}': branch rewritten, {} -> {} ({} pack(s) removed, {} written){}",
                        r.pod,
                        human_bytes(r.bytes_before),
                        human_bytes(r.bytes_after),
                        r.packs_removed,
                        r.packs_written,
                        if r.pruned {
                            "; the remote repository was pruned"
                        } else {
                            "; the host deletes the old objects on its own schedule"
                        }
                    )?;
                }
                let s = &outcome.store;
                writeln!(
                    out,
                    "freed {}: {} of {} pack(s) removed, {} rewritten with their live data",
                    human_bytes(s.bytes_freed),
                    s.packs_deleted,
                    s.packs_before,
                    s.packs_repacked
                )?;
            }
        }
        Command::Versions { name, drop } if !drop.is_empty() => {
            let dropped = ops::drop_versions(&env, &name, &drop)?;
            writeln!(out, "dropped version(s) {dropped:?} of '{name}'; run `pods gc` to free their data")?;
        }
        Command::Versions { name, .. } => {
            let versions = ops::versions(&env, &name)?;
            if json {
                let list: Vec<_> = versions
                    .iter()
                    .map(|v| {
                        json!({"version": v.number, "time_ns": v.time_ns, "author": v.author, "message": v.message,
                               "bytes": v.stats.bytes, "files": v.stats.files, "root": v.root.to_hex()})
                    })
                    .collect();
                writeln!(out, "{}", json!(list))?;
            } else if versions.is_empty() {
                writeln!(out, "pod '{name}' has no versions yet")?;
            } else {
                let rows: Vec<Vec<String>> = versions
                    .iter()
                    .map(|v| {
                        vec![
                            v.number.to_string(),
                            format_time(v.time_ns),
                            v.author.clone(),
                            v.message.clone(),
                            human_bytes(v.stats.bytes),
                            v.stats.files.to_string(),
                        ]
                    })
                    .collect();
                table(out, &["Version", "Date (UTC)", "Author", "Message", "Size", "Files"], &rows)?;
            }
        }
        Command::Reset { yes } => {
            let dir = ops::check_data_dir(data_dir)?;
            if !yes {
                if !std::io::stdin().is_terminal() {
                    bail!("reset empties {}: pass --yes to confirm (no terminal to ask on)", dir.display());
                }
                eprint!("Empty {}? A backup is kept. [y/N] ", dir.display());
                let mut answer = String::new();
                std::io::stdin().lock().read_line(&mut answer)?;
                if !matches!(answer.trim(), "y" | "Y" | "yes") {
                    bail!("not confirmed; nothing changed");
                }
            }
            let removed = ops::reset(&env, Some(&dir))?;
            if json {
                writeln!(out, "{}", json!({"removed": removed}))?;
            } else {
                writeln!(out, "emptied {} ({removed} entries removed; a backup was kept)", dir.display())?;
            }
        }
        Command::Delete { name, remote } => {
            let pod = ops::delete_pod(&env, &name, remote)?;
            if json {
                writeln!(out, "{}", json!({"deleted": name, "remote": remote}))?;
            } else if remote {
                writeln!(out, "deleted pod '{name}' and its branch {} on {}", pod.branch, pod.url)?;
            } else {
                writeln!(out, "forgot pod '{name}' (its branch {} on {} is untouched)", pod.branch, pod.url)?;
            }
        }
    }
    Ok(())
}

fn remote(home: &Home, command: RemoteCommand, json: bool, out: &mut dyn Write) -> Result<()> {
    match command {
        RemoteCommand::Add { name, url } => {
            ops::remote_add(home, &name, &url)?;
            writeln!(out, "added remote '{name}' = {url}")?;
        }
        RemoteCommand::Remove { name } => {
            let url = ops::remote_remove(home, &name)?;
            writeln!(out, "removed remote '{name}' ({url})")?;
        }
        RemoteCommand::List => {
            let remotes = home.remotes()?;
            if json {
                writeln!(out, "{}", json!(remotes))?;
            } else {
                let rows: Vec<Vec<String>> = remotes.iter().map(|(n, u)| vec![n.clone(), u.clone()]).collect();
                table(out, &["Name", "URL"], &rows)?;
            }
        }
    }
    Ok(())
}

fn table(out: &mut dyn Write, header: &[&str], rows: &[Vec<String>]) -> Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        padded.join("  ").trim_end().to_string()
    };
    writeln!(out, "{}", line(header.to_vec()))?;
    for row in rows {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

/// `YYYY-MM-DD HH:MM` in UTC, without a date crate: days to civil date (Howard Hinnant).
fn format_time(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}", rem / 3600, (rem % 3600) / 60)
}

fn pull_report(outcome: &ops::PullOutcome, dry_run: bool, json: bool, out: &mut dyn Write) -> Result<()> {
    if json {
        let conflicts: Vec<_> = outcome
            .conflicts
            .iter()
            .map(|c| {
                let resolution = match c.resolution {
                    Resolution::KeptOurs => "ours",
                    Resolution::TookTheirs => "theirs",
                    Resolution::Unresolved => "unresolved",
                };
                json!({"path": String::from_utf8_lossy(&c.path), "what": c.describe(), "resolution": resolution})
            })
            .collect();
        let report = json!({"pod": outcome.pod, "version": outcome.version, "dry_run": dry_run,
            "changes": outcome.planned, "packs_fetched": outcome.packs_fetched, "conflicts": conflicts,
            "exec_status": outcome.exec_status});
        writeln!(out, "{report}")?;
        return Ok(());
    }
    if dry_run {
        for p in &outcome.planned {
            let sizes = match (p.size_before, p.size_after) {
                (None, None) => String::new(),
                (None, Some(b)) => format!(" ({})", human_bytes(b)),
                (Some(a), None) => format!(" (was {})", human_bytes(a)),
                (Some(a), Some(b)) => format!(" ({} -> {})", human_bytes(a), human_bytes(b)),
            };
            writeln!(out, "{:<18} {:<9} {}{sizes}", p.action, p.kind, p.path)?;
        }
        writeln!(
            out,
            "dry run: pulling '{}' version {} would change {} path(s); nothing was changed",
            outcome.pod,
            outcome.version,
            outcome.planned.len()
        )?;
        return Ok(());
    }
    for c in &outcome.conflicts {
        let kept = if c.resolution == Resolution::KeptOurs { "kept yours" } else { "took the pod's" };
        writeln!(out, "conflict {}: {} ({kept})", String::from_utf8_lossy(&c.path), c.describe())?;
    }
    writeln!(out, "pulled '{}' version {}: {} path(s) changed", outcome.pod, outcome.version, outcome.planned.len())?;
    Ok(())
}

/// `--exit-code` found differences: exit with 1, print nothing more.
#[derive(Debug)]
pub struct DiffersExit;

impl std::fmt::Display for DiffersExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the two sides differ")
    }
}

impl std::error::Error for DiffersExit {}

fn diff_report(stats: &[ops::Stat], stat: bool, json: bool, out: &mut dyn Write) -> Result<()> {
    use pods_engine::diff::Status;
    let text = |p: &[u8]| String::from_utf8_lossy(p).into_owned();
    let kind = |e: &Option<pods_engine::codec::tree::Entry>| e.as_ref().map(|e| e.node.kind_name());
    if json {
        let list: Vec<_> = stats
            .iter()
            .map(|s| {
                let d = &s.difference;
                json!({
                    "status": d.status.letter().to_string(), "change": format!("{:?}", d.status),
                    "path": text(&d.path), "old_path": d.old_path.as_deref().map(text),
                    "kind_before": kind(&d.old), "kind_after": kind(&d.new),
                    "mode_before": d.old.as_ref().map(|e| format!("{:o}", e.mode)),
                    "mode_after": d.new.as_ref().map(|e| format!("{:o}", e.mode)),
                    "size_before": s.size_before, "size_after": s.size_after,
                    "new_bytes": s.new_bytes, "shared_bytes": s.shared_bytes,
                })
            })
            .collect();
        writeln!(out, "{}", json!(list))?;
        return Ok(());
    }
    for s in stats {
        let d = &s.difference;
        let name = match &d.old_path {
            Some(old) => format!("{} -> {}", text(old), text(&d.path)),
            None => text(&d.path),
        };
        let note = match d.status {
            Status::ModeChanged => {
                let mode = |e: &Option<pods_engine::codec::tree::Entry>| e.as_ref().map_or(0, |e| e.mode);
                format!("\t(mode {:o} -> {:o})", mode(&d.old), mode(&d.new))
            }
            Status::TypeChanged => format!("\t({} -> {})", kind(&d.old).unwrap_or("?"), kind(&d.new).unwrap_or("?")),
            _ => String::new(),
        };
        if stat {
            let size = |v: Option<u64>| v.map_or("-".to_string(), human_bytes);
            writeln!(
                out,
                "{} {name}  {} -> {}  ({} new, {} shared)",
                d.status.letter(),
                size(s.size_before),
                size(s.size_after),
                human_bytes(s.new_bytes),
                human_bytes(s.shared_bytes)
            )?;
        } else {
            writeln!(out, "{}\t{name}{note}", d.status.letter())?;
        }
    }
    if stat {
        let new: u64 = stats.iter().map(|s| s.new_bytes).sum();
        let shared: u64 = stats.iter().map(|s| s.shared_bytes).sum();
        writeln!(
            out,
            "{} path(s) changed; {} of new data, {} unchanged inside changed files",
            stats.len(),
            human_bytes(new),
            human_bytes(shared)
        )?;
    }
    Ok(())
}
