//! An exhaustive interleaving check of the cache's single-flight state machine, on the real
//! cache: every sequence (up to a length) of callers arriving, the source's fetch ending (a
//! token, an error, a panic), invalidations and the clock moving, each run on a fresh cache
//! with a source the test completes by hand.
//!
//! After every step: at most one fetch runs at a time. After every sequence, once the source
//! answers and time passes: every caller has an answer (nobody hangs), and the number of
//! fetches is bounded by the events that justify one (no spinning, no stampede).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokensource_core::clock::TokioClock;
use tokensource_core::{CachedTokenSource, Error, RefreshPolicy, Token, TokenSource};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const PANIC_MARKER: &str = "model source panic";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    /// A caller asks for a token.
    Call,
    /// The running fetch returns a token (100 s).
    Token,
    /// The running fetch fails (retryable).
    Fail,
    /// The running fetch panics.
    Panic,
    /// The API refuses the last token a caller got.
    Invalidate,
    /// 30 s pass.
    Tick,
}

const EVENTS: [Event; 6] = [
    Event::Call,
    Event::Token,
    Event::Fail,
    Event::Panic,
    Event::Invalidate,
    Event::Tick,
];

#[derive(Debug)]
enum Answer {
    Token,
    Fail,
    Panic,
}

/// A source whose every fetch waits for the test to answer it.
#[derive(Debug, Clone, Default)]
struct Gated {
    pending: Arc<Mutex<VecDeque<oneshot::Sender<Answer>>>>,
    fetches: Arc<AtomicUsize>,
    running: Arc<AtomicUsize>,
    most_running: Arc<AtomicUsize>,
}

/// Counts a fetch as running until it is dropped, however it ends.
struct Running(Arc<AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl TokenSource for Gated {
    async fn token(&self) -> Result<Token, Error> {
        let n = self.fetches.fetch_add(1, Ordering::SeqCst);
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_running.fetch_max(now, Ordering::SeqCst);
        let _running = Running(Arc::clone(&self.running));
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().push_back(tx);
        match rx.await {
            Ok(Answer::Token) => Ok(Token::builder(format!("token-{n}"))
                .expires_in(Duration::from_secs(100))
                .build()
                .unwrap()),
            Ok(Answer::Fail) | Err(_) => Err(Error::unavailable("gated", "HTTP 503")),
            Ok(Answer::Panic) => std::panic::panic_any(PANIC_MARKER),
        }
    }
}

impl Gated {
    fn answer(&self, answer: Answer) -> bool {
        let sender = self.pending.lock().unwrap().pop_front();
        match sender {
            Some(sender) => sender.send(answer).is_ok(),
            None => false,
        }
    }
}

/// Lets every ready task run (the runtime is single-threaded and its clock paused).
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

/// Runs `events` on a fresh cache and checks the invariants; returns a description of a
/// violation, if any.
async fn run(events: &[Event]) -> Result<(), String> {
    let source = Gated::default();
    let cache = Arc::new(
        CachedTokenSource::builder(source.clone())
            .policy(
                RefreshPolicy::default()
                    .with_max_attempts(1)
                    .with_backoff(Duration::from_secs(1), Duration::from_secs(8)),
            )
            .clock(TokioClock::new())
            .build(),
    );
    let mut callers: Vec<JoinHandle<Result<Token, Error>>> = Vec::new();
    let mut last_token: Option<Token> = None;
    let mut justified = 1;
    for &event in events {
        match event {
            Event::Call => {
                let cache = Arc::clone(&cache);
                callers.push(tokio::spawn(async move { cache.token().await }));
                justified += 1;
            }
            Event::Token => {
                source.answer(Answer::Token);
            }
            Event::Fail => {
                source.answer(Answer::Fail);
            }
            Event::Panic => {
                source.answer(Answer::Panic);
            }
            Event::Invalidate => {
                if let Some(token) = &last_token {
                    cache.invalidate(token).await;
                    justified += 1;
                }
            }
            Event::Tick => {
                tokio::time::advance(Duration::from_secs(30)).await;
                justified += 1;
            }
        }
        settle().await;
        if source.most_running.load(Ordering::SeqCst) > 1 {
            return Err("two fetches ran at once".to_owned());
        }
        for caller in &mut callers {
            if caller.is_finished()
                && let Ok(Ok(token)) = (&mut *caller).await
            {
                last_token = Some(token);
            }
        }
        callers.retain(|caller| !caller.is_finished());
    }
    // Drain: the source answers with tokens and time passes; every caller must finish.
    for _ in 0..10 {
        while source.answer(Answer::Token) {
            settle().await;
        }
        tokio::time::advance(Duration::from_secs(10)).await;
        settle().await;
    }
    if source.most_running.load(Ordering::SeqCst) > 1 {
        return Err("two fetches ran at once".to_owned());
    }
    let hung = callers.iter().filter(|c| !c.is_finished()).count();
    if hung > 0 {
        return Err(format!("{hung} callers never got an answer"));
    }
    let fetches = source.fetches.load(Ordering::SeqCst);
    if fetches > justified {
        return Err(format!(
            "{fetches} fetches for {justified} justifying events"
        ));
    }
    Ok(())
}

#[test]
fn every_interleaving_up_to_six_events_keeps_the_single_flight_invariants() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&PANIC_MARKER) {
            default_hook(info);
        }
    }));
    const LENGTH: u32 = 6;
    let total = EVENTS.len().pow(LENGTH);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let mut checked = 0;
    for index in 0..total {
        let mut rest = index;
        let events: Vec<Event> = (0..LENGTH)
            .map(|_| {
                let event = EVENTS[rest % EVENTS.len()];
                rest /= EVENTS.len();
                event
            })
            .collect();
        if let Err(violation) = runtime.block_on(run(&events)) {
            panic!("{events:?}: {violation}");
        }
        checked += 1;
    }
    assert_eq!(checked, total);
}
