//! Stage 5: being written.
