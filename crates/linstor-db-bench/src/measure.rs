//! Runs one command under GNU time: wall time from our clock (nanoseconds), peak RSS and CPU of the
//! process tree from `wait4` as GNU time reports it, and the CPU the servers used meanwhile.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::model::Trial;

/// GNU time; the Debian package `time`.
pub const GNU_TIME: &str = "/usr/bin/time";

/// A command to measure.
#[derive(Debug, Clone)]
pub struct Cmd {
    program: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    cwd: Option<PathBuf>,
    stdout: Option<PathBuf>,
}

impl Cmd {
    /// `program args…`.
    pub fn new(program: impl Into<String>, args: &[&str]) -> Cmd {
        Cmd {
            program: program.into(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            env: Vec::new(),
            cwd: None,
            stdout: None,
        }
    }

    /// A POSIX shell script (pipelines, redirections, loops).
    pub fn shell(script: impl AsRef<str>) -> Cmd {
        Cmd::new("sh", &["-c"]).arg(script)
    }

    /// One more argument.
    pub fn arg(mut self, arg: impl AsRef<str>) -> Cmd {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// More arguments.
    pub fn args(mut self, args: &[&str]) -> Cmd {
        self.args.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    /// An environment variable.
    pub fn env(mut self, key: &str, value: impl AsRef<str>) -> Cmd {
        self.env.push((key.to_owned(), value.as_ref().to_owned()));
        self
    }

    /// The working directory.
    pub fn cwd(mut self, dir: &Path) -> Cmd {
        self.cwd = Some(dir.to_owned());
        self
    }

    /// Sends stdout to a file (default: discarded).
    pub fn stdout_to(mut self, file: &Path) -> Cmd {
        self.stdout = Some(file.to_owned());
        self
    }

    /// The command as a shell would show it.
    pub fn display(&self) -> String {
        let mut parts: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={}", quote(v))).collect();
        parts.push(quote(&self.program));
        parts.extend(self.args.iter().map(|a| quote(a)));
        let mut text = parts.join(" ");
        if let Some(out) = &self.stdout {
            text.push_str(&format!(" > {}", quote(&out.display().to_string())));
        }
        text
    }

    fn command(&self, program: &str, prefix: &[String]) -> Result<Command> {
        let mut command = Command::new(program);
        command.args(prefix).arg(&self.program).args(&self.args).stdin(Stdio::null()).stderr(Stdio::piped());
        for (key, value) in &self.env {
            command.env(key, value);
        }
        if let Some(dir) = &self.cwd {
            command.current_dir(dir);
        }
        match &self.stdout {
            Some(path) => {
                let file = fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
                command.stdout(file);
            }
            None => {
                command.stdout(Stdio::null());
            }
        }
        Ok(command)
    }

    /// Runs the command without measuring it and returns its stdout (for setup and checks).
    pub fn output(&self) -> Result<String> {
        let mut command = Command::new(&self.program);
        command.args(&self.args).stdin(Stdio::null());
        for (key, value) in &self.env {
            command.env(key, value);
        }
        if let Some(dir) = &self.cwd {
            command.current_dir(dir);
        }
        if let Some(path) = &self.stdout {
            command.stdout(fs::File::create(path).with_context(|| format!("creating {}", path.display()))?);
        }
        let output = command.output().with_context(|| format!("running {}", self.display()))?;
        if !output.status.success() {
            bail!("{} failed ({}): {}", self.display(), output.status, tail(&String::from_utf8_lossy(&output.stderr)));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Runs the command under GNU time; `watch` are server PIDs whose CPU use is recorded.
    pub fn measure(&self, scratch: &Path, watch: &[u32]) -> Result<Trial> {
        let time_file = scratch.join("gnu-time.out");
        let prefix = vec!["-f".to_owned(), "%e %M %U %S".to_owned(), "-o".to_owned(), time_file.display().to_string()];
        let mut command = self.command(GNU_TIME, &prefix)?;
        let load_before = load_average();
        let cpu_before = cpu_seconds(watch);
        let start = Instant::now();
        let output = command.output().with_context(|| format!("running {}", self.display()))?;
        let wall_s = start.elapsed().as_secs_f64();
        let cpu_after = cpu_seconds(watch);
        if !output.status.success() {
            bail!("{} failed ({}): {}", self.display(), output.status, tail(&String::from_utf8_lossy(&output.stderr)));
        }
        let text = fs::read_to_string(&time_file).with_context(|| format!("reading {}", time_file.display()))?;
        let line = text.lines().last().unwrap_or_default();
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [_, rss, user, sys] = fields[..] else { bail!("unexpected GNU time output {text:?}") };
        Ok(Trial {
            wall_s,
            max_rss_kib: rss.parse().with_context(|| format!("GNU time output {text:?}"))?,
            user_s: user.parse().with_context(|| format!("GNU time output {text:?}"))?,
            sys_s: sys.parse().with_context(|| format!("GNU time output {text:?}"))?,
            server_cpu_s: match (cpu_before, cpu_after) {
                (Some(before), Some(after)) if !watch.is_empty() => Some(after - before),
                _ => None,
            },
            load_before,
        })
    }
}

fn quote(text: &str) -> String {
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c)) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// The last lines of a command's stderr, for error messages.
pub fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}

/// The 1-minute load average.
pub fn load_average() -> f64 {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// User + system CPU seconds of `pids` (from /proc/PID/stat, in clock ticks of 1/100 s as on every
/// Linux that matters here); `None` if one of them is gone.
pub fn cpu_seconds(pids: &[u32]) -> Option<f64> {
    let mut total = 0.0;
    for pid in pids {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name, which is in parentheses and may contain spaces.
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the state field (3).
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        total += (utime + stime) / 100.0;
    }
    Some(total)
}
