//! What one fetch keeps from one wait to the next, stage by stage (each stage's `fetch_size`,
//! the bench's size column; NOTES.md's "Performance"): a local that lives across an `.await`
//! is part of every task, so none may be a read buffer.

#[test]
fn a_fetch_keeps_no_read_buffer_across_its_waits() {
    let sizes = [
        ("stage1", crawler::stage1::fetch_size()),
        ("stage2", crawler::stage2::fetch_size()),
        ("stage3", crawler::stage3::fetch_size()),
        ("stage4", crawler::stage4::fetch_size()),
        ("stage5", crawler::stage5::fetch_size()),
    ];
    for (stage, size) in sizes {
        // A `[0u8; 4096]` kept across a wait would add its 4,096 bytes to every fetch.
        assert!(
            size < 1024,
            "{stage}: a fetch keeps {size} bytes between waits"
        );
    }
}
