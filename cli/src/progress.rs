//! Renders engine progress: a bar on a terminal, plain lines when piped, JSON lines with
//! --json. Everything goes to stderr so stdout stays the command's result.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use pods_engine::progress::{Phase, Progress};

pub struct Renderer {
    json: bool,
    tty: bool,
    current: Mutex<Option<Current>>,
}

struct Current {
    phase: Phase,
    bar: Option<ProgressBar>,
    started: Instant,
    done: u64,
}

impl Renderer {
    pub fn new(json: bool) -> Self {
        Self { json, tty: std::io::stderr().is_terminal(), current: Mutex::new(None) }
    }

    fn line(&self, text: &str) {
        let _ = writeln!(std::io::stderr(), "{text}");
    }
}

impl Progress for Renderer {
    fn begin(&self, phase: Phase, total_bytes: u64) {
        let mut current = self.current.lock().expect("progress lock");
        if self.json {
            self.line(
                &serde_json::json!({"event": "begin", "phase": phase.label(), "total_bytes": total_bytes}).to_string(),
            );
        }
        let bar = (self.tty && !self.json).then(|| {
            let bar = ProgressBar::new(total_bytes);
            let template = if total_bytes > 0 {
                "{msg:>11} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
            } else {
                "{msg:>11} {spinner} {bytes} {bytes_per_sec}"
            };
            bar.set_style(ProgressStyle::with_template(template).expect("valid template").progress_chars("=> "));
            bar.set_message(phase.label());
            bar
        });
        *current = Some(Current { phase, bar, started: Instant::now(), done: 0 });
    }

    fn advance(&self, bytes: u64) {
        let mut current = self.current.lock().expect("progress lock");
        if let Some(current) = current.as_mut() {
            current.done += bytes;
            if let Some(bar) = &current.bar {
                bar.inc(bytes);
            }
        }
    }

    fn end(&self, phase: Phase) {
        let mut guard = self.current.lock().expect("progress lock");
        let Some(current) = guard.take().filter(|c| c.phase == phase) else {
            return;
        };
        if let Some(bar) = &current.bar {
            bar.finish_and_clear();
        }
        let seconds = current.started.elapsed().as_secs_f64();
        if self.json {
            self.line(
                &serde_json::json!({"event": "end", "phase": phase.label(), "bytes": current.done, "seconds": seconds})
                    .to_string(),
            );
        } else if !self.tty && current.done > 0 {
            self.line(&format!("{}: {} in {seconds:.1} s", phase.label(), human_bytes(current.done)));
        }
    }

    fn warn(&self, message: &str) {
        let current = self.current.lock().expect("progress lock");
        if self.json {
            self.line(&serde_json::json!({"event": "warning", "message": message}).to_string());
        } else if let Some(bar) = current.as_ref().and_then(|c| c.bar.as_ref()) {
            bar.println(format!("warning: {message}"));
        } else {
            self.line(&format!("warning: {message}"));
        }
    }
}

pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
