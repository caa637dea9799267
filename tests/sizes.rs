//! What one fetch keeps from one wait to the next, stage by stage (the bench's size column,
//! measured by `examples/bench/sizes.rs`; NOTES.md's "Performance"): a local that lives across
//! an `.await` is part of every task, so none may be a read buffer.

#[path = "../examples/bench/sizes.rs"]
mod sizes;

#[test]
fn a_fetch_keeps_no_read_buffer_across_its_waits() {
    for stage in ["stage1", "stage2", "stage3", "stage4", "stage5"] {
        let size = sizes::of(stage).expect("every event-loop stage is measured")();
        // A `[0u8; 4096]` kept across a wait would add its 4,096 bytes to every fetch.
        assert!(
            size < 1024,
            "{stage}: a fetch keeps {size} bytes between waits"
        );
    }
}
