//! The test kit holds up too: a test that passes must also end.

use std::sync::mpsc;
use std::time::Duration;

use crate::providers::Provider;

/// Found by the soak tests: after joining a thousand finished tasks, dropping a mock server hung
/// forever (wiremock's `Drop` blocks on a tokio lock, which never completes once the task's
/// cooperative budget is spent). The test kit now drops the server on a thread of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mock_server_drops_after_the_task_budget_is_spent() {
    let _shared = crate::EXCLUSIVE.read().await;
    let server = Provider::Noyo.mock(Duration::from_secs(60)).await;

    // Ready awaits spend tokio's per-poll budget; stop when it is gone.
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    for i in 0..1000 {
        sender.send(i).expect("the receiver is alive");
    }
    let mut received = 0;
    while tokio::task::coop::has_budget_remaining() && received < 1000 {
        receiver.recv().await;
        received += 1;
    }
    assert!(
        !tokio::task::coop::has_budget_remaining(),
        "the budget was not spent after {received} receives"
    );

    // A hang cannot fail a test from inside it: a watchdog ends the process instead.
    let (done, watchdog) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        if watchdog.recv_timeout(Duration::from_secs(10)) == Err(mpsc::RecvTimeoutError::Timeout) {
            eprintln!(
                "testkit::a_mock_server_drops_after_the_task_budget_is_spent: dropping the MockServer hung"
            );
            std::process::exit(101);
        }
    });
    drop(server);
    let _ = done.send(());
}
