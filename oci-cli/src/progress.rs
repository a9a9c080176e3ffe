//! Progress on standard error, drawn by `indicatif`: one bar per layer or blob with bytes,
//! rate and time left (a layer being written by `build`: its uncompressed bytes against
//! the size of the tree, or bytes and rate where only changes are written). Nothing is drawn when standard error is not a terminal, with
//! `-q`, or while debug logs go to standard error; `NO_COLOR` drops the colours.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::sync::{Arc, Mutex, OnceLock};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use oci_image::{Progress, UnpackEvent};

/// What `main` decided from the global flags.
#[derive(Debug, Clone, Copy, Default)]
pub struct Settings {
    /// `-q`: no progress at all.
    pub quiet: bool,
    /// Logs below the warning level go to standard error: bars would garble them.
    pub logging: bool,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// Sets what the global flags say (once, from `main`).
pub fn configure(settings: Settings) {
    let _ = SETTINGS.set(settings);
}

/// Whether progress is drawn: standard error is a terminal, no `-q`, no debug log.
pub fn enabled() -> bool {
    let settings = SETTINGS.get().copied().unwrap_or_default();
    !settings.quiet && !settings.logging && std::io::stderr().is_terminal()
}

/// Whether `-q` was given: commands leave out their notices.
pub fn quiet() -> bool {
    SETTINGS.get().is_some_and(|s| s.quiet)
}

/// The bars of one operation.
struct Bars {
    multi: MultiProgress,
    /// One bar per layer (by its position in the manifest).
    bars: BTreeMap<usize, ProgressBar>,
    /// Layers in the operation, once known.
    count: usize,
}

impl Bars {
    fn bar(&mut self, index: usize, size: u64, digest: Option<&str>) -> &ProgressBar {
        let count = self.count;
        let multi = &self.multi;
        self.bars.entry(index).or_insert_with(|| {
            let bar = multi.add(ProgressBar::new(size));
            bar.set_style(bytes_style());
            let short = digest.map(|d| d.get(..19).unwrap_or(d)).unwrap_or("");
            bar.set_prefix(if count > 0 {
                format!("layer {}/{count} {short}", index + 1)
            } else {
                format!("layer {} {short}", index + 1)
            });
            bar
        })
    }

    /// The bar of a layer being written, its size estimated (`None`: unknown, then
    /// bytes and rate without a bar or time left).
    fn new_layer(&mut self, index: usize, estimate: Option<u64>) -> &ProgressBar {
        let count = self.count;
        let multi = &self.multi;
        self.bars.entry(index).or_insert_with(|| {
            let bar = match estimate {
                Some(size) => {
                    let bar = multi.add(ProgressBar::new(size));
                    bar.set_style(bytes_style());
                    bar
                }
                None => {
                    let bar = multi.add(ProgressBar::no_length());
                    bar.set_style(unknown_size_style());
                    bar
                }
            };
            bar.set_prefix(format!("layer {}/{count} new", index + 1));
            bar
        })
    }

    fn clear(&mut self) {
        for bar in self.bars.values() {
            bar.finish_and_clear();
        }
        self.bars.clear();
        let _ = self.multi.clear();
    }
}

/// The bars being drawn, for [`end_progress`].
static LIVE: Mutex<Option<Arc<Mutex<Bars>>>> = Mutex::new(None);

fn bytes_style() -> ProgressStyle {
    let template = if crate::logging::color(true) {
        "{prefix} {bar:30.cyan/blue} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}"
    } else {
        "{prefix} {bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}"
    };
    ProgressStyle::with_template(template)
        .expect("a valid progress template")
        .progress_chars("=> ")
}

/// Bytes and rate of a layer whose size is not known beforehand.
fn unknown_size_style() -> ProgressStyle {
    let template = if crate::logging::color(true) {
        "{prefix} {spinner:.green} {bytes} {binary_bytes_per_sec} ({elapsed})"
    } else {
        "{prefix} {spinner} {bytes} {binary_bytes_per_sec} ({elapsed})"
    };
    ProgressStyle::with_template(template).expect("a valid progress template")
}

/// A progress observer drawing one bar per layer on standard error when progress is
/// [`enabled`], else none. Call [`end_progress`] when the operation ends.
pub(crate) fn progress() -> Progress {
    if !enabled() {
        return if SETTINGS.get().is_some_and(|s| s.logging) {
            logged()
        } else {
            Progress::default()
        };
    }
    let bars = Arc::new(Mutex::new(Bars {
        multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
        bars: BTreeMap::new(),
        count: 0,
    }));
    if let Ok(mut live) = LIVE.lock() {
        *live = Some(Arc::clone(&bars));
    }
    Progress(Some(Arc::new(move |event: &UnpackEvent<'_>| {
        let Ok(mut bars) = bars.lock() else { return };
        match event {
            UnpackEvent::Layer {
                index,
                count,
                descriptor,
            } => {
                bars.count = *count;
                bars.bar(*index, descriptor.size, Some(descriptor.digest.as_str()));
            }
            UnpackEvent::Read { index, read, size } => {
                let bar = bars.bar(*index, *size, None);
                bar.set_position(*read);
                if read >= size {
                    bar.finish();
                }
            }
            UnpackEvent::Create {
                index,
                count,
                estimate,
            } => {
                bars.count = *count;
                bars.new_layer(*index, *estimate);
            }
            UnpackEvent::Written {
                index,
                written,
                estimate,
            } => {
                let bar = bars.new_layer(*index, *estimate);
                // The estimate is close, not exact: a tar above it extends the bar.
                if bar.length().is_some_and(|len| *written > len) {
                    bar.set_length(*written);
                }
                bar.set_position(*written);
            }
            _ => {}
        }
    })))
}

/// With debug logs, a log line per layer started and finished instead of bars.
fn logged() -> Progress {
    Progress(Some(Arc::new(|event: &UnpackEvent<'_>| match event {
        UnpackEvent::Layer {
            index,
            count,
            descriptor,
        } => tracing::debug!(
            "layer {}/{count} {} ({} bytes): reading",
            index + 1,
            descriptor.digest,
            descriptor.size
        ),
        UnpackEvent::Read { index, read, size } if read >= size => {
            tracing::debug!("layer {}: {read} bytes read", index + 1);
        }
        UnpackEvent::Create {
            index,
            count,
            estimate,
        } => match estimate {
            Some(size) => tracing::debug!(
                "layer {}/{count}: writing (a tar of about {size} bytes)",
                index + 1
            ),
            None => tracing::debug!("layer {}/{count}: writing", index + 1),
        },
        _ => {}
    })))
}

/// Ends the bars of `progress`, if any were drawn, and clears them from the screen.
pub(crate) fn end_progress(progress: &Progress) {
    if progress.0.is_none() {
        return;
    }
    let live = LIVE.lock().ok().and_then(|mut live| live.take());
    if let Some(bars) = live
        && let Ok(mut bars) = bars.lock()
    {
        bars.clear();
    }
}
