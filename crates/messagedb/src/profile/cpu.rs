//! Reading a pprof CPU profile: folded stacks for the flamegraph, and the hottest frames.
//!
//! The server's `/debug/pprof/profile` returns pprof's protobuf, which `go tool pprof` and other
//! viewers read as is (`cpu.pb`). For the bundle's own views the samples are turned into folded
//! stacks (`thread;root;…;leaf count`), which inferno renders as an SVG flamegraph, and summed per
//! function: *self* samples (the function was the leaf, it was running) and *total* samples (it
//! was anywhere on the stack).

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::Context;
use pprof::protos::Message;

/// A decoded CPU profile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuProfile {
    /// `frame;frame;… → samples`, root first.
    pub folded: BTreeMap<String, u64>,
    /// All samples.
    pub samples: u64,
    /// Per function: (self samples, total samples).
    pub functions: HashMap<String, (u64, u64)>,
}

/// A frame of the top-frames table.
#[derive(Debug, Clone, PartialEq)]
pub struct HotFrame {
    pub function: String,
    pub self_samples: u64,
    pub total_samples: u64,
}

/// Decodes a pprof protobuf (as `pprof-rs` writes it, or gzip-free output of other tools).
pub fn analyse(bytes: &[u8]) -> anyhow::Result<CpuProfile> {
    let profile =
        pprof::protos::Profile::decode(bytes).context("the CPU profile is not a pprof protobuf")?;
    let text = |index: i64| -> &str {
        profile
            .string_table
            .get(usize::try_from(index).unwrap_or(0))
            .map_or("?", String::as_str)
    };
    let functions: HashMap<u64, &str> = profile
        .function
        .iter()
        .map(|f| (f.id, text(f.name)))
        .collect();
    // A location lists its inlined functions innermost first.
    let locations: HashMap<u64, Vec<&str>> = profile
        .location
        .iter()
        .map(|l| {
            let names = l
                .line
                .iter()
                .map(|line| functions.get(&line.function_id).copied().unwrap_or("?"))
                .collect();
            (l.id, names)
        })
        .collect();
    let mut out = CpuProfile::default();
    for sample in &profile.sample {
        let count = sample.value.first().copied().unwrap_or(0).max(0) as u64;
        if count == 0 {
            continue;
        }
        // `location_id` is leaf first. The sampler's own frames (it unwinds from inside the
        // signal handler) sit at the leaf end of every stack; they are not the server's work.
        let leaf_first: Vec<&str> = sample
            .location_id
            .iter()
            .flat_map(|id| locations.get(id).cloned().unwrap_or_default())
            .skip_while(|f| is_sampler_frame(f))
            .collect();
        let thread = sample
            .label
            .iter()
            .find(|l| text(l.key) == "thread")
            .map(|l| text(l.str));
        let mut stack: Vec<String> = Vec::with_capacity(leaf_first.len() + 1);
        if let Some(thread) = thread {
            stack.push(thread_group(thread));
        }
        stack.extend(leaf_first.iter().rev().map(|f| clean(f)));
        *out.folded.entry(stack.join(";")).or_insert(0) += count;
        out.samples += count;
        if let Some(leaf) = leaf_first.first() {
            out.functions.entry(clean(leaf)).or_insert((0, 0)).0 += count;
        }
        let distinct: HashSet<String> = leaf_first.iter().map(|f| clean(f)).collect();
        for function in distinct {
            out.functions.entry(function).or_insert((0, 0)).1 += count;
        }
    }
    Ok(out)
}

/// A frame of the sampling profiler itself (`backtrace::…` unwinding, `pprof::…`).
fn is_sampler_frame(function: &str) -> bool {
    let name = function.trim_start_matches('<');
    name.starts_with("backtrace::") || name.starts_with("pprof::")
}

/// Threads of a pool share a name with a numeric suffix (`tokio-runtime-worker`, `messagedb-…-3`);
/// grouping them keeps the flamegraph's roots few.
fn thread_group(name: &str) -> String {
    let trimmed = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-' || c == '#');
    format!("[{}]", if trimmed.is_empty() { name } else { trimmed })
}

/// Folded-stack syntax reserves `;` and the final space; a frame name must contain neither.
fn clean(function: &str) -> String {
    function.replace(';', ":").replace(' ', "_")
}

impl CpuProfile {
    /// The `n` functions with the most self samples (ties: most total samples, then name).
    pub fn top(&self, n: usize) -> Vec<HotFrame> {
        let mut frames: Vec<HotFrame> = self
            .functions
            .iter()
            .filter(|(_, (own, _))| *own > 0)
            .map(|(function, (own, total))| HotFrame {
                function: function.clone(),
                self_samples: *own,
                total_samples: *total,
            })
            .collect();
        frames.sort_by(|a, b| {
            b.self_samples
                .cmp(&a.self_samples)
                .then(b.total_samples.cmp(&a.total_samples))
                .then(a.function.cmp(&b.function))
        });
        frames.truncate(n);
        frames
    }

    /// The `n` functions of messagedb's own crates with the most total samples: which part of
    /// the server the time is spent under, when the leaves are library code.
    pub fn top_own(&self, n: usize) -> Vec<HotFrame> {
        let mut frames: Vec<HotFrame> = self
            .functions
            .iter()
            .filter(|(function, _)| function.trim_start_matches('<').starts_with("messagedb"))
            .map(|(function, (own, total))| HotFrame {
                function: function.clone(),
                self_samples: *own,
                total_samples: *total,
            })
            .collect();
        frames.sort_by(|a, b| {
            b.total_samples
                .cmp(&a.total_samples)
                .then(b.self_samples.cmp(&a.self_samples))
                .then(a.function.cmp(&b.function))
        });
        frames.truncate(n);
        frames
    }

    /// The folded stacks as text, one `stack count` per line.
    pub fn folded_text(&self) -> String {
        self.folded
            .iter()
            .map(|(stack, n)| format!("{stack} {n}\n"))
            .collect()
    }

    /// An SVG flamegraph of the folded stacks.
    pub fn flamegraph_svg(&self, title: &str) -> anyhow::Result<Vec<u8>> {
        let mut options = inferno::flamegraph::Options::default();
        options.title = title.to_owned();
        options.count_name = "samples".to_owned();
        let lines: Vec<String> = self
            .folded
            .iter()
            .map(|(stack, n)| format!("{stack} {n}"))
            .collect();
        let mut svg = Vec::new();
        if lines.is_empty() {
            // inferno refuses an empty profile; an idle server has nothing to draw.
            svg.extend_from_slice(
                br#"<?xml version="1.0" standalone="no"?><svg version="1.1" width="600" height="40" xmlns="http://www.w3.org/2000/svg"><text x="10" y="25">No CPU samples were collected.</text></svg>"#,
            );
            return Ok(svg);
        }
        inferno::flamegraph::from_lines(&mut options, lines.iter().map(String::as_str), &mut svg)
            .context("cannot render the flamegraph")?;
        Ok(svg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pprof::protos::{Function, Label, Line, Location, Profile, Sample};

    /// main → handle → parse (leaf) ×3, main → handle ×1, on two worker threads.
    fn sample_profile() -> Vec<u8> {
        let strings = [
            "",
            "main",
            "handle",
            "parse",
            "thread",
            "tokio-runtime-worker-1",
            "tokio-runtime-worker-2",
            "backtrace::backtrace::libunwind::trace",
        ];
        let function = |id: u64, name: i64| Function {
            id,
            name,
            ..Function::default()
        };
        let location = |id: u64| Location {
            id,
            line: vec![Line {
                function_id: id,
                line: 0,
            }],
            ..Location::default()
        };
        // Every stack ends in the sampler's frames, as pprof-rs records them.
        let sample = |mut locations: Vec<u64>, count: i64, thread: i64| Sample {
            location_id: {
                locations.insert(0, 4);
                locations
            },
            value: vec![count, count * 10_000_000],
            label: vec![Label {
                key: 4,
                str: thread,
                ..Label::default()
            }],
        };
        Profile {
            string_table: strings.iter().map(|s| (*s).to_owned()).collect(),
            function: vec![
                function(1, 1),
                function(2, 2),
                function(3, 3),
                function(4, 7),
            ],
            location: vec![location(1), location(2), location(3), location(4)],
            sample: vec![
                sample(vec![3, 2, 1], 2, 5),
                sample(vec![3, 2, 1], 1, 6),
                sample(vec![2, 1], 1, 5),
            ],
            ..Profile::default()
        }
        .encode_to_vec()
    }

    #[test]
    fn folded_stacks_and_hot_frames() {
        let profile = analyse(&sample_profile()).unwrap();
        assert_eq!(profile.samples, 4);
        assert_eq!(
            profile.folded_text(),
            "[tokio-runtime-worker];main;handle 1\n[tokio-runtime-worker];main;handle;parse 3\n"
        );
        let top = profile.top(15);
        assert_eq!(top.len(), 2, "main never ran itself: {top:?}");
        assert_eq!(
            top[0],
            HotFrame {
                function: "parse".into(),
                self_samples: 3,
                total_samples: 3
            }
        );
        assert_eq!(
            top[1],
            HotFrame {
                function: "handle".into(),
                self_samples: 1,
                total_samples: 4
            }
        );
        assert_eq!(profile.functions["main"], (0, 4));
        assert!(
            profile.top_own(10).is_empty(),
            "no messagedb frames in this profile"
        );
        let svg = String::from_utf8(profile.flamegraph_svg("test").unwrap()).unwrap();
        assert!(
            svg.contains("<svg") && svg.contains("parse"),
            "{}",
            &svg[..200.min(svg.len())]
        );
    }

    #[test]
    fn empty_and_invalid_profiles() {
        let empty = analyse(&Profile::default().encode_to_vec()).unwrap();
        assert_eq!(empty.samples, 0);
        assert!(String::from_utf8(empty.flamegraph_svg("x").unwrap())
            .unwrap()
            .contains("<svg"));
        assert!(analyse(b"\xff\xff\xff not a profile").is_err());
    }
}
