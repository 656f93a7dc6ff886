//! Records what code under test reports: [`TraceCapture`] keeps every `tracing` span and event,
//! [`MetricsRecorder`] every `metrics` counter, gauge and histogram.
//!
//! Both are process-wide, installed on first use as the global subscriber and the global
//! recorder. A thread-local one would miss what the code does on a multi-threaded runtime's
//! worker threads and in the tasks it spawns (a cache's fetch, say). Tests in one binary share
//! them, so each test reads only what carries its own names: a provider label no other test
//! uses, spans under a root span of its own.
//!
//! ```
//! use tokensource_testkit::observe::{MetricsRecorder, TraceCapture};
//!
//! let traces = TraceCapture::global();
//! let metrics = MetricsRecorder::global();
//!
//! let root = tracing::info_span!("request", test = "doc-example");
//! root.in_scope(|| {
//!     tracing::info!(attempt = 1, "working");
//!     metrics::counter!("jobs_total", "provider" => "doc-example").increment(2);
//! });
//!
//! let request = traces.find_span("request", "test", "doc-example").unwrap();
//! let event = traces.events_in(request.id).pop().unwrap();
//! assert_eq!(event.message, "working");
//! assert_eq!(event.fields["attempt"], "1");
//! assert_eq!(metrics.counter("jobs_total", &[("provider", "doc-example")]), 2);
//! ```
//!
//! Each also counts what was reported on the calling thread
//! ([`TraceCapture::reported_on_this_thread`], [`MetricsRecorder::operations_on_this_thread`]):
//! on a current-thread runtime, that tells whether a call reported anything at all, even while
//! other tests report on their own threads.
//!
//! Values are read without resetting them (unlike `metrics-util`'s `DebuggingRecorder`, whose
//! snapshots reset every counter, other tests' included).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_util::registry::{AtomicStorage, Registry};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

// ---------------------------------------------------------------------------------------------
// Traces
// ---------------------------------------------------------------------------------------------

/// A span as the capture saw it: its fields as last recorded, and its links.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpanRecord {
    /// An id unique in this process (unlike `tracing`'s ids, never reused).
    pub id: u64,
    /// The span's name.
    pub name: String,
    /// The span's target (its module path unless given).
    pub target: String,
    /// The span's level.
    pub level: Level,
    /// The fields recorded so far, formatted: strings as they are, others with `Debug`.
    pub fields: BTreeMap<String, String>,
    /// The parent span, if any.
    pub parent: Option<u64>,
    /// The spans this one follows from.
    pub follows_from: Vec<u64>,
    /// Whether the span has closed.
    pub closed: bool,
}

/// An event as the capture saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventRecord {
    /// The event's target.
    pub target: String,
    /// The event's level.
    pub level: Level,
    /// Its `message` field (empty when it has none).
    pub message: String,
    /// Its other fields, formatted as in [`SpanRecord::fields`].
    pub fields: BTreeMap<String, String>,
    /// The span it happened in, if any.
    pub span: Option<u64>,
}

#[derive(Default)]
struct Captured {
    spans: Vec<SpanRecord>,
    events: Vec<EventRecord>,
}

/// Every span and event `tracing` reported in this process since the capture was installed;
/// see the [module documentation](self).
#[derive(Clone)]
pub struct TraceCapture {
    captured: Arc<Mutex<Captured>>,
}

/// The capture's own id of a span, kept in the span's extensions.
struct CaptureId(u64);

static NEXT_SPAN: AtomicU64 = AtomicU64::new(1);
static TRACES: OnceLock<TraceCapture> = OnceLock::new();

thread_local! {
    /// Spans and events reported on this thread.
    static REPORTED_HERE: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    /// Metric registrations (every `counter!`, `gauge!`, `histogram!`) made on this thread.
    static OPERATIONS_HERE: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

fn count_here(counter: &'static std::thread::LocalKey<std::cell::Cell<u64>>) {
    counter.with(|c| c.set(c.get() + 1));
}

impl TraceCapture {
    /// The process-wide capture, installed as the global `tracing` subscriber on first use.
    ///
    /// # Panics
    /// When another global subscriber was installed before.
    pub fn global() -> &'static TraceCapture {
        TRACES.get_or_init(|| {
            let capture = TraceCapture {
                captured: Arc::default(),
            };
            let subscriber = tracing_subscriber::registry().with(CaptureLayer {
                captured: Arc::clone(&capture.captured),
            });
            tracing::subscriber::set_global_default(subscriber)
                .expect("TraceCapture must be this process's only global tracing subscriber");
            capture
        })
    }

    fn lock(&self) -> MutexGuard<'_, Captured> {
        self.captured.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many spans were created and events reported on the calling thread so far.
    pub fn reported_on_this_thread(&self) -> u64 {
        REPORTED_HERE.with(std::cell::Cell::get)
    }

    /// Every span so far, in the order they were created.
    pub fn spans(&self) -> Vec<SpanRecord> {
        self.lock().spans.clone()
    }

    /// The spans named `name`.
    pub fn spans_named(&self, name: &str) -> Vec<SpanRecord> {
        self.lock()
            .spans
            .iter()
            .filter(|s| s.name == name)
            .cloned()
            .collect()
    }

    /// The span with the capture's id `id`.
    pub fn span(&self, id: u64) -> Option<SpanRecord> {
        self.lock().spans.iter().find(|s| s.id == id).cloned()
    }

    /// The first span named `name` whose field `field` is `value` (as formatted).
    pub fn find_span(&self, name: &str, field: &str, value: &str) -> Option<SpanRecord> {
        self.lock()
            .spans
            .iter()
            .find(|s| s.name == name && s.fields.get(field).is_some_and(|v| v == value))
            .cloned()
    }

    /// Whether span `id` is `ancestor` or lies under it (through parents only).
    pub fn is_within(&self, id: u64, ancestor: u64) -> bool {
        let captured = self.lock();
        let mut current = Some(id);
        while let Some(id) = current {
            if id == ancestor {
                return true;
            }
            current = captured
                .spans
                .iter()
                .find(|s| s.id == id)
                .and_then(|s| s.parent);
        }
        false
    }

    /// The spans named `name` that are `ancestor` or lie under it.
    pub fn spans_within(&self, name: &str, ancestor: u64) -> Vec<SpanRecord> {
        self.spans_named(name)
            .into_iter()
            .filter(|s| self.is_within(s.id, ancestor))
            .collect()
    }

    /// Every event so far, in order.
    pub fn events(&self) -> Vec<EventRecord> {
        self.lock().events.clone()
    }

    /// The events that happened in span `ancestor` or in a span under it.
    pub fn events_in(&self, ancestor: u64) -> Vec<EventRecord> {
        self.events()
            .into_iter()
            .filter(|e| e.span.is_some_and(|s| self.is_within(s, ancestor)))
            .collect()
    }

    /// Every name, target, field and message captured, one span or event a line: for checking
    /// that a string (a secret, say) appears nowhere.
    pub fn text(&self) -> String {
        let captured = self.lock();
        let mut out = String::new();
        for span in &captured.spans {
            out.push_str(&format!(
                "span {} {} {:?}\n",
                span.target, span.name, span.fields
            ));
        }
        for event in &captured.events {
            out.push_str(&format!(
                "event {} {} {:?}\n",
                event.target, event.message, event.fields
            ));
        }
        out
    }
}

impl fmt::Debug for TraceCapture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let captured = self.lock();
        f.debug_struct("TraceCapture")
            .field("spans", &captured.spans.len())
            .field("events", &captured.events.len())
            .finish()
    }
}

struct CaptureLayer {
    captured: Arc<Mutex<Captured>>,
}

impl CaptureLayer {
    fn lock(&self) -> MutexGuard<'_, Captured> {
        self.captured.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The capture's id of the span `id`.
fn capture_id<S>(ctx: &Context<'_, S>, id: &Id) -> Option<u64>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    ctx.span(id)
        .and_then(|span| span.extensions().get::<CaptureId>().map(|c| c.0))
}

impl<S> Layer<S> for CaptureLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        count_here(&REPORTED_HERE);
        let Some(span) = ctx.span(id) else { return };
        let own = NEXT_SPAN.fetch_add(1, Ordering::Relaxed);
        let parent = span
            .parent()
            .and_then(|p| p.extensions().get::<CaptureId>().map(|c| c.0));
        span.extensions_mut().insert(CaptureId(own));
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let metadata = attrs.metadata();
        self.lock().spans.push(SpanRecord {
            id: own,
            name: metadata.name().to_owned(),
            target: metadata.target().to_owned(),
            level: *metadata.level(),
            fields: fields.fields,
            parent,
            follows_from: Vec::new(),
            closed: false,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(own) = capture_id(&ctx, id) else {
            return;
        };
        let mut fields = Fields::default();
        values.record(&mut fields);
        if let Some(span) = self.lock().spans.iter_mut().find(|s| s.id == own) {
            span.fields.extend(fields.fields);
        }
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: Context<'_, S>) {
        let (Some(own), Some(follows)) = (capture_id(&ctx, id), capture_id(&ctx, follows)) else {
            return;
        };
        if let Some(span) = self.lock().spans.iter_mut().find(|s| s.id == own) {
            span.follows_from.push(follows);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        count_here(&REPORTED_HERE);
        let span = ctx
            .event_span(event)
            .and_then(|s| s.extensions().get::<CaptureId>().map(|c| c.0));
        let mut fields = Fields::default();
        event.record(&mut fields);
        let message = fields.fields.remove("message").unwrap_or_default();
        let metadata = event.metadata();
        self.lock().events.push(EventRecord {
            target: metadata.target().to_owned(),
            level: *metadata.level(),
            message,
            fields: fields.fields,
            span,
        });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(own) = capture_id(&ctx, &id) else {
            return;
        };
        if let Some(span) = self.lock().spans.iter_mut().find(|s| s.id == own) {
            span.closed = true;
        }
    }
}

#[derive(Default)]
struct Fields {
    fields: BTreeMap<String, String>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.fields
            .insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.fields
            .insert(field.name().to_owned(), format!("{value:?}"));
    }
}

// ---------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------

/// Every metric reported through the `metrics` facade in this process since the recorder was
/// installed; see the [module documentation](self).
#[derive(Clone)]
pub struct MetricsRecorder {
    registry: Arc<Registry<Key, AtomicStorage>>,
}

static METRICS: OnceLock<MetricsRecorder> = OnceLock::new();

impl MetricsRecorder {
    /// The process-wide recorder, installed as the global `metrics` recorder on first use.
    ///
    /// # Panics
    /// When another global recorder was installed before.
    pub fn global() -> &'static MetricsRecorder {
        METRICS.get_or_init(|| {
            let recorder = MetricsRecorder {
                registry: Arc::new(Registry::atomic()),
            };
            metrics::set_global_recorder(Installed {
                registry: Arc::clone(&recorder.registry),
            })
            .map_err(|_| ())
            .expect("MetricsRecorder must be this process's only global metrics recorder");
            recorder
        })
    }

    /// How many times a metric was registered or looked up on the calling thread so far: every
    /// use of `counter!`, `gauge!` and `histogram!` counts.
    pub fn operations_on_this_thread(&self) -> u64 {
        OPERATIONS_HERE.with(std::cell::Cell::get)
    }

    /// The counter `name` with exactly `labels` (in any order); 0 when it was never touched.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let mut total = 0;
        self.registry.visit_counters(|key, counter| {
            if matches(key, name, labels) {
                total += counter.load(Ordering::Acquire);
            }
        });
        total
    }

    /// The gauge `name` with exactly `labels`, if it was ever set.
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut value = None;
        self.registry.visit_gauges(|key, gauge| {
            if matches(key, name, labels) {
                value = Some(f64::from_bits(gauge.load(Ordering::Acquire)));
            }
        });
        value
    }

    /// The values recorded in the histogram `name` with exactly `labels`.
    pub fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        let mut values = Vec::new();
        self.registry.visit_histograms(|key, histogram| {
            if matches(key, name, labels) {
                values.extend(histogram.data());
            }
        });
        values
    }

    /// The name and labels of every metric registered so far: for checking that a string (a
    /// secret, say) is in no label.
    pub fn keys(&self) -> Vec<(String, Vec<(String, String)>)> {
        let mut keys = Vec::new();
        let mut add = |key: &Key| {
            let labels = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            keys.push((key.name().to_owned(), labels));
        };
        self.registry.visit_counters(|key, _| add(key));
        self.registry.visit_gauges(|key, _| add(key));
        self.registry.visit_histograms(|key, _| add(key));
        keys
    }
}

impl fmt::Debug for MetricsRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsRecorder")
            .field("metrics", &self.keys().len())
            .finish()
    }
}

fn matches(key: &Key, name: &str, labels: &[(&str, &str)]) -> bool {
    key.name() == name
        && key.labels().count() == labels.len()
        && labels
            .iter()
            .all(|(k, v)| key.labels().any(|l| l.key() == *k && l.value() == *v))
}

/// The recorder installed globally; shares its registry with [`MetricsRecorder`].
struct Installed {
    registry: Arc<Registry<Key, AtomicStorage>>,
}

impl Recorder for Installed {
    fn describe_counter(&self, _key: KeyName, _unit: Option<Unit>, _description: SharedString) {}

    fn describe_gauge(&self, _key: KeyName, _unit: Option<Unit>, _description: SharedString) {}

    fn describe_histogram(&self, _key: KeyName, _unit: Option<Unit>, _description: SharedString) {}

    fn register_counter(&self, key: &Key, _metadata: &Metadata<'_>) -> Counter {
        count_here(&OPERATIONS_HERE);
        self.registry
            .get_or_create_counter(key, |c| Counter::from_arc(Arc::clone(c)))
    }

    fn register_gauge(&self, key: &Key, _metadata: &Metadata<'_>) -> Gauge {
        count_here(&OPERATIONS_HERE);
        self.registry
            .get_or_create_gauge(key, |g| Gauge::from_arc(Arc::clone(g)))
    }

    fn register_histogram(&self, key: &Key, _metadata: &Metadata<'_>) -> Histogram {
        count_here(&OPERATIONS_HERE);
        self.registry
            .get_or_create_histogram(key, |h| Histogram::from_arc(Arc::clone(h)))
    }
}
